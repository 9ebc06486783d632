"""Loader nodes: transformer, VAE and T5 from ComfyUI's model folders (nothing downloaded)."""

from functools import partial

import torch

from .paths import missing_model, model_choices, resolve_model
from .runtime import manage, model_devices
from .spec import BOOLEAN, COMBO, INT, MODEL, TEXT_ENCODER, VAE, Input, NodeSpec, Output
from .values import LoadedTextEncoder, LoadedTransformer, LoadedVAE

CATEGORY = "Open-Sora/loaders"
DTYPES = ("default", "bf16", "fp16", "fp32", "fp8")
ATTENTION_BACKENDS = ("auto", "sdpa", "flash", "math")
TEXT_DEVICES = ("default", "cpu")
CPU = torch.device("cpu")


def _dtype(choice: str) -> "str | None":
    return None if choice == "default" else choice


def load_transformer(
    model_name: str, dtype: str, attention: str, block_swap: int = -1, compile: bool = False
) -> tuple:
    """Load a transformer (STDiT, DiT, PixArt), detect its kind, set its attention backend;
    `block_swap` >= 0 keeps that many blocks' worth of weights on the GPU (-1: ComfyUI
    decides), `compile` compiles each block."""
    from sora_core.acceleration.compile import compile_blocks
    from sora_core.checkpoints import load_transformer as load
    from sora_core.demo.embedded import trained_sampler_settings

    path = resolve_model("transformer", model_name)
    devices = model_devices("diffusion")
    model = load(path, dtype=_dtype(dtype), device=devices[1])
    model.set_attention_backend(attention)
    if compile:
        compile_blocks(model)
    resident = block_swap if block_swap >= 0 else None
    managed = manage(model, devices, resident)
    return (LoadedTransformer(model_name, model.release, managed, trained_sampler_settings(path)),)


def load_vae(vae_name: str, dtype: str, tile_size: int) -> tuple:
    """Load an SD VAE (1.0/1.1) or the 1.2 VAE; tile_size 0 decodes whole frames.

    Tiles are exact, so the former `tile_overlap` widget is gone. It was the node's last
    widget: workflows saved with it carry one trailing value, which the frontend leaves
    unused, and API prompts an input that ComfyUI drops (it passes declared inputs only)."""
    from sora_core.checkpoints import load_vae as load

    path = resolve_model("vae", vae_name)
    devices = model_devices("vae")
    vae = load(path, dtype=_dtype(dtype), device=str(devices[1]))
    vae.set_tiling(tile_size or None)
    return (LoadedVAE(vae_name, manage(vae, devices)),)


def load_text_encoder(t5_name: str, dtype: str, device: str, max_length: int) -> tuple:
    """Load T5 from a Hugging Face folder or a single `t5xxl_*` file (tokenizer found for it)."""
    from sora_core.checkpoints import load_text_encoder as load

    path = resolve_model("text_encoder", t5_name)
    devices = model_devices("text_encoder") if device == "default" else (CPU, CPU)
    load_device, offload_device = devices
    encoder = load(
        path,
        dtype=_dtype(dtype),
        device=load_device,
        offload_device=offload_device,
        keep_on_device=True,  # ComfyUI's memory manager decides when it leaves the device
        model_max_length=max_length,
    )
    return (LoadedTextEncoder(t5_name, encoder, manage(encoder.model, devices)),)


def check_tiling(tile_size: "int | None") -> "bool | str":
    """Tiles of at least 2 cells (0 = untiled)."""
    if tile_size == 1:
        return "tile_size: 1 is too small; use 0 (whole frames) or at least 2 latent cells"
    return True


def _dtype_input(what: str) -> Input:
    return Input(
        "dtype",
        COMBO,
        f"Weight type of the {what}. default keeps the file's; fp8 stores weights in 8 bits "
        "and computes in bf16 (half the memory of bf16).",
        default="default",
        options=DTYPES,
    )


TRANSFORMER_LOADER = NodeSpec(
    node_id="OpenSoraTransformerLoader",
    display_name="Load Open-Sora Transformer",
    category=CATEGORY,
    description="Loads an Open-Sora STDiT (1.0), STDiT2 (1.1) or STDiT3 (1.2) transformer, or "
    "one of the other models Open-Sora runs (DiT, PixArt-α/Σ, as released: DiT-XL-2-256x256.pt, "
    "PixArt-XL-2-512x512.pth, ...), from models/opensora or models/diffusion_models: a single "
    "file or a Hugging Face folder. The model and its release are detected from the weights.",
    inputs=(
        Input(
            "model_name",
            COMBO,
            "Checkpoint file or Hugging Face folder (name/) in models/opensora or "
            "models/diffusion_models.",
            options=partial(model_choices, "transformer"),
            absent=partial(missing_model, "transformer"),
        ),
        _dtype_input("transformer"),
        Input(
            "attention",
            COMBO,
            "Attention kernel: auto picks flash-attn when installed and usable, else PyTorch's "
            "scaled-dot-product attention; math is the slow exact reference.",
            default="auto",
            options=ATTENTION_BACKENDS,
        ),
        Input(
            "block_swap",
            INT,
            "Block swap: keep the weights outside the transformer blocks and this many blocks "
            "on the GPU; the rest stay in CPU memory and are copied in layer by layer as they "
            "run (slower, much less VRAM, same output). -1 = off: ComfyUI decides.",
            default=-1,
            min=-1,
            max=64,
            step=1,
            optional=True,
        ),
        Input(
            "compile",
            BOOLEAN,
            "Compile each transformer block with torch.compile (same output; the first step "
            "takes minutes, later steps run faster).",
            default=False,
            optional=True,
        ),
    ),
    outputs=(Output(MODEL, "model", "The transformer, with its detected Open-Sora release."),),
    execute=load_transformer,
    checked_early="model_name",
)

VAE_LOADER = NodeSpec(
    node_id="OpenSoraVAELoader",
    display_name="Load Open-Sora VAE",
    category=CATEGORY,
    description="Loads Open-Sora's VAE from models/vae: the SD VAE of 1.0/1.1 (per frame) or the "
    "1.2 spatial+temporal VAE, detected from the weights. Tiling bounds decode memory.",
    inputs=(
        Input(
            "vae_name",
            COMBO,
            "VAE file or Hugging Face folder (name/) in models/vae or models/opensora.",
            options=partial(model_choices, "vae"),
            absent=partial(missing_model, "vae"),
        ),
        _dtype_input("VAE"),
        Input(
            "tile_size",
            INT,
            "Spatial tile size in latent cells (x8 pixels) for encoding and decoding in bounded "
            "memory; tiles match whole frames up to float round-off. 0 = whole frames.",
            default=0,
            min=0,
            max=512,
            step=1,
        ),
    ),
    outputs=(Output(VAE, "vae", "The VAE, with its latent format for previews."),),
    execute=load_vae,
    validate=lambda tile_size=None, **_: check_tiling(tile_size),
    checked_early="vae_name",
)

TEXT_ENCODER_LOADER = NodeSpec(
    node_id="OpenSoraT5Loader",
    display_name="Load Open-Sora T5 Text Encoder",
    category=CATEGORY,
    description="Loads T5-XXL from models/text_encoders (or models/clip): a Hugging Face folder "
    "(DeepFloyd/t5-v1_1-xxl) or ComfyUI's single t5xxl_fp16 / t5xxl_fp8_e4m3fn file; the "
    "tokenizer comes from the folder or from ComfyUI's bundled T5 tokenizer.",
    inputs=(
        Input(
            "t5_name",
            COMBO,
            "T5 encoder file or Hugging Face folder (name/).",
            options=partial(model_choices, "text_encoder"),
            absent=partial(missing_model, "text_encoder"),
        ),
        _dtype_input("text encoder (fp32 T5-XXL needs ~19 GB)"),
        Input(
            "device",
            COMBO,
            "default follows ComfyUI's placement (GPU when it fits); cpu keeps T5 in system "
            "memory and frees the GPU for the transformer.",
            default="default",
            options=TEXT_DEVICES,
        ),
        Input(
            "max_length",
            INT,
            "Tokens per prompt; must match the transformer: 300 for Open-Sora 1.2 and "
            "PixArt-Σ, 200 for 1.1, 120 for 1.0 and PixArt-α.",
            default=300,
            min=1,
            max=1024,
            step=1,
        ),
    ),
    outputs=(Output(TEXT_ENCODER, "t5", "The T5 text encoder."),),
    execute=load_text_encoder,
    checked_early="t5_name",
)

SPECS = (TRANSFORMER_LOADER, VAE_LOADER, TEXT_ENCODER_LOADER)
