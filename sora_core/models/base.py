"""What the transformers share around their blocks: configuration, input checks, embedders,
caption packing, output unpatchify, backends and gradient checkpointing."""

import math

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from ..dtypes import is_fp8
from ..errors import ConfigError, VideoShapeError
from ..kernels import BACKENDS, check_backend
from .layers import (
    CaptionEmbedder,
    Linear,
    PatchEmbed3D,
    T2IFinalLayer,
    TimestepEmbedder,
    pack_captions,
    unpatchify,
)

# Keys a Hugging Face `config.json` carries besides the constructor arguments.
HF_METADATA_KEYS = frozenset(
    {"architectures", "model_type", "torch_dtype", "transformers_version", "auto_map",
     "_name_or_path", "_commit_hash"}
)  # fmt: skip


# Constructor arguments all three versions take, with the reference's defaults (XL/2 sizes).
SHARED_DEFAULTS = {
    "in_channels": 4,
    "patch_size": (1, 2, 2),
    "hidden_size": 1152,
    "depth": 28,
    "num_heads": 16,
    "mlp_ratio": 4.0,
    "class_dropout_prob": 0.1,
    "pred_sigma": True,
    "drop_path": 0.0,
    "caption_channels": 4096,
    "enable_flash_attn": False,
    "enable_layernorm_kernel": False,
    "enable_sequence_parallelism": False,
}


def resolve_config(defaults: dict, given: dict, model_name: str) -> dict:
    """Constructor arguments: `defaults` updated by `given`; unknown names raise `ConfigError`."""
    given = {key: value for key, value in given.items() if key not in HF_METADATA_KEYS}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(
            f"{model_name}: unknown config keys {unknown}; accepted keys are {sorted(defaults)}"
        )
    config = {**defaults, **given}
    for key in ("patch_size", "input_size"):
        if config.get(key) is not None:
            config[key] = tuple(config[key])
    if len(config["patch_size"]) != 3:
        raise ConfigError(f"patch_size: {config['patch_size']!r} must have 3 entries (t, h, w)")
    if config["hidden_size"] % config["num_heads"]:
        raise ConfigError(
            f"num_heads: {config['num_heads']} does not divide hidden_size {config['hidden_size']}"
        )
    return config


class TransformerBase(nn.Module):
    """What every transformer here shares: configuration, patch and timestep embedders,
    attention backends, gradient checkpointing, input checks and unpatchify.

    Subclasses define `release`, `DEFAULTS`, their conditioning, blocks and forward.
    """

    release = ""
    DEFAULTS: dict = {}
    SIGMA_KEY = "pred_sigma"  # DiT names the switch `learn_sigma`

    def __init__(self, **config):
        super().__init__()
        self.config = resolve_config(self.DEFAULTS, config, type(self).__name__)
        c = self.config
        self.in_channels = c["in_channels"]
        self.out_channels = c["in_channels"] * 2 if c[self.SIGMA_KEY] else c["in_channels"]
        self.patch_size = c["patch_size"]
        self.hidden_size = c["hidden_size"]
        self.num_heads = c["num_heads"]
        self.depth = c["depth"]
        self.grad_checkpointing = False
        # Installed for one sampling run by `acceleration.StepCache.session` on models whose
        # block loop calls `cached_blocks` (`step_cacheable`).
        self.step_cache = None
        # Installed by `acceleration.BlockSwap.install`: streams blocks around `run_block`.
        self.block_swap = None
        # The reference's acceleration flags choose kernels only.
        self.default_backend = "auto" if c["enable_flash_attn"] else "sdpa"
        self.fp32_norm = bool(c["enable_layernorm_kernel"])
        self.x_embedder = PatchEmbed3D(self.patch_size, c["in_channels"], c["hidden_size"])
        self.t_embedder = TimestepEmbedder(c["hidden_size"])

    def block_kwargs(self) -> dict:
        """Arguments every block of this model is built with."""
        c = self.config
        return {
            "hidden_size": c["hidden_size"],
            "num_heads": c["num_heads"],
            "mlp_ratio": c["mlp_ratio"],
            "backend": self.default_backend,
            "fp32_norm": self.fp32_norm,
        }

    def drop_rates(self) -> list[float]:
        """Stochastic-depth rate per block, rising linearly to `drop_path`."""
        rate, steps = self.config["drop_path"], max(self.depth - 1, 1)
        return [rate * index / steps for index in range(self.depth)]

    # --- switches ---------------------------------------------------------------------------
    def enable_gradient_checkpointing(self, enabled: bool = True) -> "TransformerBase":
        """Recompute each block in the backward pass (training memory for compute)."""
        self.grad_checkpointing = enabled
        return self

    def set_attention_backend(self, backend: str) -> "TransformerBase":
        """Use one of `sora_core.kernels.BACKENDS` in every attention layer."""
        check_backend(backend)
        for module in self.modules():
            if hasattr(module, "backend"):
                module.backend = backend
        return self

    @property
    def attention_backends(self) -> tuple:
        """The backend names accepted by `set_attention_backend`."""
        return BACKENDS

    @property
    def compute_dtype(self) -> torch.dtype:
        """Activations' dtype: the weights' dtype, bf16 when the weights are stored in fp8."""
        dtype = self.x_embedder.proj.weight.dtype
        return torch.bfloat16 if is_fp8(dtype) else dtype

    # --- forward helpers --------------------------------------------------------------------
    def run_block(self, block: nn.Module, *args):
        """Call a block, through activation checkpointing when training with it enabled and
        with its weights streamed in when block swap is on."""
        if self.block_swap is not None:
            with self.block_swap.using(block):
                return block(*args)
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def cached_blocks(self, tokens, t_mlp, x_mask, first_block, blocks):
        """`blocks(tokens)`, through the installed step cache if any (`acceleration.StepCache`).

        The cache's probe is the first block's modulated input `[B, N, C]`, as TeaCache's."""
        if self.step_cache is None:
            return blocks(tokens)
        shift, scale = first_block.modulations(t_mlp, None)[0][:2]
        probe = first_block.norm1.modulated(tokens, shift, scale)
        return self.step_cache.run(tokens, probe, blocks, x_mask)

    def prepare_latent(self, x, timestep) -> tuple:
        """Check `x` `[B, Cin, T, H, W]`, broadcast `timestep` to `[B]`, cast both to the
        compute dtype."""
        name = type(self).__name__
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise VideoShapeError(
                f"{name}: x has shape {tuple(x.shape)}; expected [B, {self.in_channels}, T, H, W]"
            )
        batch = x.shape[0]
        timestep = torch.as_tensor(timestep, device=x.device).reshape(-1)
        if timestep.numel() == 1:
            timestep = timestep.expand(batch)
        if timestep.numel() != batch:
            raise VideoShapeError(
                f"{name}: timestep has {timestep.numel()} values; expected 1 or the batch {batch}"
            )
        dtype = self.compute_dtype
        return x.to(dtype), timestep.to(dtype)

    def set_input_size(self, input_size) -> None:
        """Models with fixed sin-cos tables (STDiT 1.0, DiT, Latte, PixArt): rebuild them for
        another latent `(T, H, W)`, as the reference builds its model for each run's latent."""
        self.config["input_size"] = tuple(input_size)
        self.grid = tuple(size // patch for size, patch in zip(input_size, self.patch_size))
        self.reset_position_tables()

    def check_grid(self, grid: tuple, expected: tuple, latent_shape) -> None:
        """Models with fixed position tables take only the latent size they were built for."""
        if grid != expected:
            raise VideoShapeError(
                f"{type(self).__name__}: latent size {tuple(latent_shape[2:])} does not match "
                f"the model's fixed input_size {self.config['input_size']}; build the model "
                "for this size"
            )

    def to_latent(self, tokens: torch.Tensor, grid, latent_thw) -> torch.Tensor:
        """Final tokens -> float32 `[B, Cout, Tx, Hx, Wx]`."""
        return unpatchify(tokens, grid, self.patch_size, self.out_channels, latent_thw).float()


class STDiTBase(TransformerBase):
    """Skeleton of the caption-conditioned models with PixArt's adaLN-single modulation
    (STDiT 1.0/1.1/1.2, PixArt): shared `t_block`, T5 caption embedder, PixArt final layer."""

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        hidden = c["hidden_size"]
        self.t_block = nn.Sequential(nn.SiLU(), Linear(hidden, 6 * hidden))
        self.y_embedder = CaptionEmbedder(
            c["caption_channels"], hidden, c["class_dropout_prob"], c["model_max_length"]
        )
        self.final_layer = T2IFinalLayer(
            hidden, math.prod(self.patch_size), self.out_channels, self.fp32_norm
        )

    def apply_freeze(self, freeze: "str | None") -> None:
        """The 1.0/1.1 `freeze` option: train only temporal attention, or freeze cross-attention."""
        if freeze not in (None, "not_temporal", "text"):
            raise ConfigError(f"freeze: {freeze!r}; expected None, 'not_temporal' or 'text'")
        for name, param in self.named_parameters():
            if freeze == "not_temporal" and "attn_temp" not in name:
                param.requires_grad_(False)
            if freeze == "text" and "cross_attn" in name:
                param.requires_grad_(False)

    def prepare_inputs(self, x, timestep, y, projected_captions: bool = False):
        """Check shapes and cast `x`, `timestep`, `y` to the compute dtype.

        `projected_captions`: `y` is already `[1, ΣL, C]` (STDiT3's `skip_y_embedder`)."""
        name = type(self).__name__
        x, timestep = self.prepare_latent(x, timestep)
        batch = x.shape[0]
        caption_shape = (self.config["model_max_length"], self.config["caption_channels"])
        if not projected_captions:
            y = y[:, None] if y.ndim == 3 else y
            if y.ndim != 4 or y.shape[0] != batch or y.shape[-1] != caption_shape[1]:
                raise VideoShapeError(
                    f"{name}: y has shape {tuple(y.shape)}; expected [{batch}, 1, L, {caption_shape[1]}]"
                    f" (L = {caption_shape[0]} for this model)"
                )
        return x, timestep, y.to(x.dtype)

    def size_arg(self, value, name: str, batch: int, device) -> torch.Tensor:
        """A per-sample physical size (`height`, `fps`, ...) as `[n]` in the compute dtype."""
        if value is None:
            raise VideoShapeError(
                f"{type(self).__name__}: {name} is required (pixel sizes, frame count and fps of "
                f"the video, one value per prompt or per batch row)"
            )
        value = torch.as_tensor(value, device=device).reshape(-1)
        if batch % value.numel():
            raise VideoShapeError(
                f"{type(self).__name__}: {name} has {value.numel()} values, which does not "
                f"divide the batch {batch}"
            )
        # The reference's samplers build these in the model dtype (bf16 rounds 854 to 856).
        return value.to(self.compute_dtype)

    def frame_mask(self, x_mask, batch: int, frames: int):
        """`x_mask` as bool `[B, T]` (True = generated frame), or None."""
        if x_mask is None:
            return None
        x_mask = torch.as_tensor(x_mask).bool()
        if x_mask.shape != (batch, frames):
            raise VideoShapeError(
                f"{type(self).__name__}: x_mask has shape {tuple(x_mask.shape)}; expected "
                f"[{batch}, {frames}] (batch, latent frames)"
            )
        return x_mask

    def embed_captions(self, y: torch.Tensor, mask):
        """Pack the valid caption tokens and project them: `[1, ΣL, C]` and the lengths."""
        if mask is not None:
            mask = torch.as_tensor(mask, device=y.device)
            if mask.shape[-1] != y.shape[2] or y.shape[0] % mask.reshape(-1, y.shape[2]).shape[0]:
                raise VideoShapeError(
                    f"{type(self).__name__}: mask has shape {tuple(mask.shape)}; expected "
                    f"[n, {y.shape[2]}] with n dividing the batch {y.shape[0]}"
                )
        # Packed before the projection: padding tokens are never attended to, so projecting
        # them (as the reference does) is wasted work; the projection is row by row.
        captions = self.y_embedder.drop(y, self.training)  # [B, 1, L, Cc]
        packed, lens = pack_captions(captions, mask)  # [1, ΣL, Cc]
        if min(lens) < 1:
            raise VideoShapeError(
                f"{type(self).__name__}: caption lengths {lens}: every sample needs at least one "
                "valid text token (mask row of zeros)"
            )
        return self.y_embedder.y_proj(packed), lens  # [1, ΣL, C]
