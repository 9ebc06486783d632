"""The models a training run needs, built from the config's `model` / `vae` / `text_encoder`.

As `scripts/train.py`: the transformer takes `in_channels` from the VAE and
`caption_channels` / `model_max_length` from the text encoder; without those sections
(pre-extracted features) the config's `vae_out_channels`, `text_encoder_output_dim` and
`text_encoder_model_max_length` stand in. Encoders are frozen; the transformer is fp32
(mixed precision is autocast) and starts from `model.from_pretrained` when given.
"""

from dataclasses import dataclass

import torch

from ..samplers import build_scheduler
from .distributed import Ranks


@dataclass
class TrainingModels:
    """The transformer being trained, its frozen encoders and its diffusion scheduler."""

    model: torch.nn.Module
    vae: "torch.nn.Module | None"
    text_encoder: "object | None"
    scheduler: object
    lora: object = None  # sora_core.lora.AttachedLoRA when only adapters train

    def build_ema(self) -> "torch.nn.Module | None":
        """The run's EMA copy of the transformer; none when only adapters train (the copy
        would double the memory, and an average of adapters is not what anyone ships)."""
        from .ema import build_ema

        return None if self.lora is not None else build_ema(self.model)


def _encoder_dtype(settings: dict, device: torch.device) -> str:
    # The reference runs the encoders in the training dtype; the CPU computes in fp32.
    return "fp32" if device.type == "cpu" else settings["dtype"]


def _local(section: "dict | None", field: str) -> "dict | None":
    from ..pipeline.loading import resolve_checkpoint

    if section is None:
        return None
    section = dict(section)
    if section.get("from_pretrained"):
        section["from_pretrained"] = resolve_checkpoint(section["from_pretrained"], field)
    return section


def build_text_encoder_for_training(settings: dict, device: torch.device):
    """The configured text encoder on `device`, or None (features come from the dataset)."""
    from ..checkpoints import build_text_encoder

    config = _local(settings.get("text_encoder"), "text_encoder")
    if config is None:
        return None
    config.setdefault("device", str(device))
    config.setdefault("dtype", _encoder_dtype(settings, device))
    return build_text_encoder(config)


def build_vae_for_training(settings: dict, device: torch.device):
    """The configured VAE, frozen, in eval mode on `device`, or None."""
    from ..checkpoints import build_vae, load_vae
    from ..dtypes import resolve_dtype

    config = _local(settings.get("vae"), "vae")
    if config is None:
        return None
    dtype = resolve_dtype(_encoder_dtype(settings, device))
    source = config.pop("from_pretrained", None)
    vae = load_vae(source, config, dtype=dtype) if source else build_vae(config)
    return vae.to(device, dtype).eval().requires_grad_(False)


def build_transformer(
    settings: dict, vae, text_encoder, dataset_size: "tuple | None"
) -> torch.nn.Module:
    """The STDiT to train, fp32, in train mode, with gradient checkpointing as configured.

    `dataset_size`: `(num_frames, height, width)` of a fixed-size dataset (Open-Sora 1.0
    needs the latent size), None for bucketed datasets.
    """
    from ..checkpoints import build_model, load_transformer

    config = _local(settings["model"], "model")
    grad_checkpoint = bool(config.pop("grad_checkpoint", False) or settings["grad_checkpoint"])
    if text_encoder is not None:
        caption_channels = getattr(text_encoder, "output_dim", None)
        max_length = getattr(text_encoder, "model_max_length", None)
    else:
        caption_channels = settings.get("text_encoder_output_dim", 4096)
        max_length = settings.get("text_encoder_model_max_length", 300)
    derived = {"model_max_length": max_length}
    if dataset_size is not None and vae is not None:
        derived["input_size"] = tuple(vae.get_latent_size(list(dataset_size)))
    source = config.pop("from_pretrained", None)
    if source is not None:
        # The weights decide the widths; a text encoder or VAE that does not fit them
        # fails the shape check with the key named.
        # (Freezing switches such as freeze_y_embedder survive the load.)
        model = load_transformer(source, config={**config, **derived}, dtype=torch.float32)
    else:
        derived["in_channels"] = (
            vae.out_channels if vae is not None else settings.get("vae_out_channels", 4)
        )
        if caption_channels is not None:
            derived["caption_channels"] = caption_channels
        model = build_model({**config, **derived})
    return model.float().train().enable_gradient_checkpointing(grad_checkpoint)


def build_training_models(
    settings: dict, ranks: Ranks, dataset_size: "tuple | None", encoders: "tuple | None" = None
) -> TrainingModels:
    """Text encoder, VAE, transformer (on the rank's device) and the scheduler.

    On a feature cache (`BatchFeatureDataset`) neither encoder is built; the transformer's
    widths come from the cache unless the settings give them. `encoders` = (vae,
    text_encoder), loaded by the caller (the ComfyUI node), are used as they are."""
    from ..models import model_class

    if settings["dataset"].get("type") == "BatchFeatureDataset":
        from ..datasets.features import BatchFeatureDataset

        settings = {**BatchFeatureDataset(settings["dataset"]["data_path"]).dims, **settings}
        text_encoder = vae = None
    elif encoders is not None:
        vae, text_encoder = encoders
    else:
        text_encoder = build_text_encoder_for_training(settings, ranks.device)
        vae = build_vae_for_training(settings, ranks.device)
    model = build_transformer(settings, vae, text_encoder, dataset_size)
    lora = None
    if settings.get("lora") is not None:
        from ..lora import add_lora

        # Freezes the transformer (re-stored in base_dtype when given).
        lora = add_lora(model, settings["lora"], base_dtype=settings.get("base_dtype"))
    model = model.to(ranks.device)
    release = model_class(settings["model"]["type"])[0].release
    scheduler = build_scheduler(settings["scheduler"], release=release)
    return TrainingModels(model, vae, text_encoder, scheduler, lora)
