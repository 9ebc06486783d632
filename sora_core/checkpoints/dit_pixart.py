"""Reading DiT / Latte / PixArt-α / PixArt-Σ checkpoints: the released layouts normalised to
Open-Sora's keys, and the constructor arguments their shapes imply.

The reference picks its key fixes by the file's basename; here they follow from the keys
and shapes, so a renamed file loads the same:
- a 2D patch embedding `x_embedder.proj.weight [C, Cin, p, p]` (Meta DiT, Latte, PixArt
  releases) becomes the Conv3d `[C, Cin, 1, p, p]`;
- the stored sin-cos tables (`pos_embed`, Latte's `temp_embed`, our `pos_embed_spatial` /
  `pos_embed_temporal`) only tell the trained size; the models recompute them.
"""

import math

from ..errors import CheckpointError
from .sincos_tables import coordinate_scale, table_grid

# Every sin-cos table a release or a training checkpoint of these models may hold.
POSITION_KEYS = ("pos_embed", "pos_embed_spatial", "pos_embed_temporal", "temp_embed")
RELEASE_HEAD_DIM = 72  # XL/2 (1152 / 16) and 1B/2 (1872 / 26)
SMALL_MODEL_HEADS = 4


def detect_family(state: dict) -> "str | None":
    """Model class of a DiT/Latte/PixArt state dict, or None for anything else."""
    if "blocks.0.adaLN_modulation.1.weight" in state:
        # Latte has DiT's keys; only Latte's own release stores its frame table `temp_embed`.
        # Other files (DiT's release, Open-Sora training checkpoints) need the config's type.
        return "Latte" if "temp_embed" in state else "DiT"
    if "t_block.1.weight" not in state or "blocks.0.cross_attn.q_linear.weight" not in state:
        return None
    if any(".attn_temp." in key for key in state) or "t_block_temp.1.weight" in state:
        return None  # STDiT 1.0 / 1.1
    if "csize_embedder.mlp.0.weight" in state:
        return "PixArtMS"
    if any(key.endswith((".attn.q_norm.weight", ".attn.sr.weight")) for key in state):
        return "PixArt_Sigma"
    return "PixArt"


def normalise_layout(state: dict) -> None:
    """Released 2D patch embeddings as Open-Sora's Conv3d weights (in place)."""
    weight = state["x_embedder.proj.weight"]
    if weight.ndim == 4:
        state["x_embedder.proj.weight"] = weight.unsqueeze(2)


def drop_position_tables(state: dict) -> None:
    """Remove the stored sin-cos tables; the built model holds its own for its size."""
    for key in POSITION_KEYS:
        state.pop(key, None)


def _num_heads(state: dict, hidden: int, preset: dict) -> int:
    q_norm = state.get("blocks.0.attn.q_norm.weight")
    if q_norm is not None:
        return hidden // q_norm.shape[0]
    if preset.get("hidden_size") == hidden and "num_heads" in preset:
        return preset["num_heads"]
    return hidden // RELEASE_HEAD_DIM if hidden % RELEASE_HEAD_DIM == 0 else SMALL_MODEL_HEADS


def _common(state: dict, preset: dict) -> dict:
    hidden, in_channels, *patch = state["x_embedder.proj.weight"].shape
    patch = tuple(patch)
    depth = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("blocks."))
    out_channels = state["final_layer.linear.weight"].shape[0] // math.prod(patch)
    if out_channels not in (in_channels, 2 * in_channels):
        raise CheckpointError(
            f"final_layer.linear.weight has {out_channels} channels per patch; expected "
            f"{in_channels} or {2 * in_channels} for {in_channels} latent channels"
        )
    return {
        "in_channels": in_channels,
        "patch_size": patch,
        "hidden_size": hidden,
        "depth": depth,
        "num_heads": _num_heads(state, hidden, preset),
        "mlp_ratio": state["blocks.0.mlp.fc1.weight"].shape[0] / hidden,
        "sigma": out_channels == 2 * in_channels,
    }


def _trained_size(
    state: dict, spatial_key: str, hidden: int, patch: tuple, base_size: "int | None" = None
) -> dict:
    """`input_size` and the spatial table's `space_scale`, when the file stores its tables.

    PixArt stretches its table to `base_size` latent pixels, by default `int(sqrt(rows * cols))`
    tokens."""
    spatial = state.get(spatial_key, state.get("pos_embed"))
    if spatial is None:
        return {}
    temporal = state.get("pos_embed_temporal", state.get("temp_embed"))
    frames = 1 if temporal is None else temporal.shape[1]
    spatial = spatial[0].float()
    rows, cols = table_grid(spatial, hidden)
    base = int(math.sqrt(rows * cols)) if base_size is None else base_size // patch[1]
    stretch = base / cols
    scale = 1.0 if cols < 2 else coordinate_scale(spatial, hidden // 4, stretch)
    return {
        "input_size": (frames * patch[0], rows * patch[1], cols * patch[2]),
        "space_scale": scale,
    }


def dit_config(state: dict, preset: dict) -> dict:
    """DiT / Latte constructor arguments implied by the tensors."""
    config = _common(state, preset)
    config["learn_sigma"] = config.pop("sigma")
    table = state.get("y_embedder.embedding_table.weight")
    if table is not None:
        # The extra row is the null class (trained with label dropout).
        config["condition"] = f"label_{table.shape[0] - 1}"
        config["caption_channels"] = None
    else:
        config["condition"] = "text"
        config["caption_channels"] = state["y_embedder.y_proj.fc1.weight"].shape[1]
    size = _trained_size(state, "pos_embed_spatial", config["hidden_size"], config["patch_size"])
    size.pop("space_scale", None)  # DiT / Latte tables have no scale
    return {**config, **size}


def pixart_config(state: dict, family: str, preset: dict, base_size=None) -> dict:
    """PixArt / PixArtMS / PixArt_Sigma constructor arguments implied by the tensors
    (`base_size`: the config's, which the stored table was stretched to)."""
    config = _common(state, preset)
    config["pred_sigma"] = config.pop("sigma")
    config["caption_channels"] = state["y_embedder.y_proj.fc1.weight"].shape[1]
    config["model_max_length"] = state["y_embedder.y_embedding"].shape[0]
    hidden, patch = config["hidden_size"], config["patch_size"]
    config.update(_trained_size(state, "pos_embed", hidden, patch, base_size))
    if family == "PixArt_Sigma":
        config["qk_norm"] = "blocks.0.attn.q_norm.weight" in state
        compressed = sorted(
            int(key.split(".")[1]) for key in state if key.endswith(".attn.sr.weight")
        )
        if compressed:
            factor = state[f"blocks.{compressed[0]}.attn.sr.weight"].shape[-1]
            config["kv_compress_config"] = {
                "sampling": "conv",
                "scale_factor": factor,
                "kv_compress_layer": compressed,
            }
    return config


def check_condition(family_config: dict, settings: dict, where: str) -> None:
    """A class-conditional file into a caption-conditioned DiT/Latte (or back) is refused:
    the reference would load it with the other embedder left random."""
    stored, wanted = family_config["condition"], settings["condition"]
    if stored == wanted:
        return
    if stored == "text" or wanted == "text":
        kind = "class-conditional" if stored != "text" else "caption-conditioned (CLIP)"
        raise CheckpointError(
            f"{where} holds a {kind} model (condition={stored!r}) but condition={wanted!r} was "
            f"asked for; use condition={stored!r} with a "
            + ("'classes' text encoder" if stored != "text" else "'clip' text encoder")
        )
    raise CheckpointError(
        f"{where} has {stored.split('_')[1]} classes (condition={stored!r}) but "
        f"condition={wanted!r} was asked for"
    )
