"""Shared pieces of the pipeline tests: the end-to-end fixtures' models and settings."""

from golden import fixtures_dir, read_json
from sora_core.checkpoints import load_text_encoder, load_transformer, load_vae
from sora_core.conditioning import LongVideoSettings
from sora_core.pipeline import GenerationModels, Placement, default_clip_settings
from sora_core.samplers import build_scheduler

CHECKPOINTS = "checkpoints"


def e2e_entries() -> "list[dict]":
    """The end-to-end cases listed in checkpoints/index.json."""
    index = fixtures_dir() / CHECKPOINTS / "index.json"
    if not index.is_file():
        return [{"name": f"MISSING-INDEX:{index}", "json": "", "tensors": ""}]
    return read_json(f"{CHECKPOINTS}/index.json")["e2e"]


def reference_vae_config(sidecar: dict) -> dict:
    """The tiny 1.2 VAE's architecture as its sidecar states it (group counts are not in the
    weights)."""
    model = sidecar["model"]
    config = dict(model["explicit_config_for_direct_construction"], type="VideoAutoencoderPipeline")
    spatial = {k: v for k, v in config["vae_2d"].items() if k != "from_pretrained"}
    config["vae_2d"] = dict(spatial, autoencoder=model["spatial_vae_config"])
    return config


def fixture_models(config: dict) -> GenerationModels:
    """The fixtures' tiny STDiT3, 1.2 VAE and T5, loaded through our loaders in fp32 on CPU."""
    root = fixtures_dir() / CHECKPOINTS
    vae_sidecar = read_json(f"{CHECKPOINTS}/vae_v12.json")
    return GenerationModels(
        transformer=load_transformer(root / "stdit3_hf", dtype="fp32"),
        vae=load_vae(root / "vae_v12_hf", reference_vae_config(vae_sidecar), dtype="fp32"),
        text_encoder=load_text_encoder(
            fixtures_dir() / "text" / "tiny_t5",
            dtype="fp32",
            model_max_length=config["text_encoder"]["model_max_length"],
            cache_size=0,
        ),
        sampler=build_scheduler(config["scheduler"], release="1.2"),
        placement=Placement.create("cpu", "fp32"),
    )


def fixture_clip_settings(config: dict):
    """`ClipSettings` from an end-to-end case's inference config."""
    return default_clip_settings(
        "1.2",
        image_size=tuple(config["image_size"]),
        num_frames=config["num_frames"],
        fps=config["fps"],
        multi_resolution=config["multi_resolution"],
        long_video=LongVideoSettings(
            loop=config["loop"],
            condition_frame_length=config["condition_frame_length"],
            condition_frame_edit=config["condition_frame_edit"],
            align=config["align"],
        ),
    )
