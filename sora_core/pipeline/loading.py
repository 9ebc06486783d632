"""Building the four models of a run from Open-Sora's `model` / `vae` / `text_encoder` /
`scheduler` config dicts, with local files only.

`from_pretrained` may be a path or a Hugging Face repo id; a repo id is looked up in the
local Hugging Face cache and never downloaded. After loading, the parts are checked
against each other (latent channels, caption width, caption length), so a transformer
from one release and a VAE or text encoder from another fail with a clear message.
"""

import torch

from ..errors import CheckpointError
from ..hub import locate
from ..samplers import build_scheduler
from .generate import GenerationModels
from .placement import Placement


def resolve_checkpoint(name: str, field: str) -> str:
    """A local path for `from_pretrained`: the path itself, else the local HF cache snapshot."""
    from ..checkpoints import resolve_pretrained

    if field == "text_encoder":
        return str(resolve_pretrained(str(name)))
    return str(locate(name, f"{field}.from_pretrained"))


def resolved_configs(config: dict) -> dict:
    """The `model`, `vae` and `text_encoder` dicts with `from_pretrained` made local paths."""
    resolved = {}
    for field in ("model", "vae", "text_encoder"):
        section = dict(config[field])
        if section.get("from_pretrained"):
            section["from_pretrained"] = resolve_checkpoint(section["from_pretrained"], field)
        resolved[field] = section
    return resolved


def check_compatible(models: GenerationModels) -> None:
    """Raise `CheckpointError` when the transformer does not fit its VAE or text encoder."""
    transformer = models.transformer
    problems = []
    if transformer.in_channels != models.vae.out_channels:
        problems.append(
            f"the transformer takes {transformer.in_channels} latent channels but the VAE "
            f"makes {models.vae.out_channels}"
        )
    caption = transformer.config["caption_channels"]
    width = getattr(models.text_encoder, "output_dim", caption)
    if width != caption:
        problems.append(
            f"the transformer reads {caption}-wide captions but the text encoder gives {width}"
        )
    length = getattr(models.text_encoder, "model_max_length", None)
    if length is not None and length != transformer.config["model_max_length"]:
        problems.append(
            f"the transformer's null caption has {transformer.config['model_max_length']} "
            f"tokens but text_encoder.model_max_length is {length}"
        )
    if problems:
        raise CheckpointError(
            "the checkpoints do not belong together: "
            + "; ".join(problems)
            + " (Open-Sora 1.2: 4-channel VAE, T5-XXL 4096 wide, 300 tokens)"
        )


def load_generation_models(
    config: dict, placement: Placement, latent_size: "list[int] | None" = None
) -> GenerationModels:
    """Load transformer, VAE and text encoder (weights resting on the offload device) and the
    sampler from an inference config whose `from_pretrained` values are local paths."""
    from ..checkpoints import build_text_encoder, build_vae, load_transformer, load_vae
    from ..models import model_class

    dtype = placement.dtype
    model_config = dict(config["model"])
    model_type = model_config.pop("type")
    source = model_config.pop("from_pretrained", None)
    if source is None:
        raise CheckpointError(
            "model.from_pretrained is not set: give the transformer checkpoint with --ckpt-path"
        )
    cls = model_class(model_type)[0]
    release = cls.release
    if hasattr(cls, "reset_position_tables") and latent_size is not None:
        # Fixed sin-cos tables (STDiT 1.0, DiT, Latte, PixArt): built for this run's latent.
        model_config.setdefault("input_size", tuple(latent_size))
    transformer = load_transformer(
        source,
        config={"type": model_type, **model_config},
        dtype=dtype,
        device=placement.offload_device,
    )
    vae_config = dict(config["vae"])
    source = vae_config.pop("from_pretrained", None)
    vae = load_vae(source, vae_config, dtype=dtype) if source else build_vae(vae_config)
    vae = vae.to(placement.offload_device, dtype).eval()
    text_config = dict(config["text_encoder"])
    text_config.setdefault("device", str(placement.device))
    if dtype == torch.float32:
        text_config.setdefault("dtype", "fp32")  # the reference encodes in fp32
    text_encoder = build_text_encoder(text_config)
    sampler = build_scheduler(config["scheduler"], release=release)
    models = GenerationModels(transformer, vae, text_encoder, sampler, placement)
    check_compatible(models)
    return models
