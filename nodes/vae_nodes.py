"""VAE decode (LATENT -> IMAGE frames and VIDEO) and encode (IMAGE frames -> LATENT)."""

from typing import TYPE_CHECKING

import torch

from sora_core.errors import VideoShapeError

from .runtime import ManagedModel, intermediate_device, load_together
from .spec import FLOAT, IMAGE, INT, LATENT, VAE, VIDEO, Input, NodeSpec, Output
from .values import VideoFrames
from .video_frames import frames_to_video, video_to_frames

if TYPE_CHECKING:
    from sora_core.pipeline import Placement


def activation_memory(vae, batch: int, frames: int, height: int, width: int) -> int:
    """Estimated activation bytes of encoding or decoding `batch` clips of `frames` frames of
    `height` x `width` pixels with `vae` at its tiling.

    The decode estimate serves both ways: each encoder mirrors its decoder (the same widths
    at each scale, the same chunks and tiles) without the decoder's widest, just-upsampled
    layer, so encoding needs at most what decoding the same clip does."""
    factor = vae.vae.spatial_factor
    tiling = vae.vae.tiling
    return vae.vae.estimate_decode_bytes(
        height // factor,
        width // factor,
        batch,
        frames,
        None if tiling is None else tiling.tile_size,
    )


def place_vae(
    vae, batch: int, frames: int, height: int, width: int, *alongside: ManagedModel
) -> "Placement":
    """Load the VAE (and the `alongside` models, in the same request) for encoding or decoding
    such clips: ComfyUI keeps their activation memory free, loading the weights partially if
    both do not fit (as it does for its own VAE). Returns the `Placement` to run it with."""
    from sora_core.pipeline import Placement

    memory = activation_memory(vae, batch, frames, height, width)
    device = load_together(*alongside, vae.managed, memory_required=memory)
    return Placement(device, vae.vae.dtype, offload_device=device)


def decode(vae, latent: dict, fps: float, num_frames: int) -> tuple:
    """Decode every latent of the batch; frames of all batch items follow each other."""
    from sora_core.pipeline import decode_latent

    samples = latent["samples"]
    if samples.dim() != 5:
        raise VideoShapeError(
            f"latent: samples of shape {tuple(samples.shape)}; an Open-Sora latent is "
            "[B, C, T, H, W] (from Open-Sora Sampler or Open-Sora VAE Encode)"
        )
    batch, _, latent_frames, height, width = samples.shape
    frames = num_frames or latent.get("num_frames")
    factor = vae.vae.spatial_factor
    placement = place_vae(
        vae,
        batch,
        frames or latent_frames * vae.vae.temporal_factor,  # unknown: at most that many
        height * factor,
        width * factor,
    )
    video = decode_latent(vae.vae, samples, placement, frames)
    images = video_to_frames(video).to(intermediate_device())
    rate = fps or latent.get("fps") or 24.0
    return images, VideoFrames(images, float(rate))


def encode(vae, images: torch.Tensor) -> tuple:
    """Encode the frames as one video with the posterior's mean (deterministic)."""
    video = frames_to_video(images)
    vae.vae.check_pixel_size(video.shape[3], video.shape[4])
    batch, _, frames, height, width = video.shape
    placement = place_vae(vae, batch, frames, height, width)
    with torch.no_grad():
        pixels = video.to(placement.device, placement.dtype)
        latent = vae.vae.encode(pixels, sample_posterior=False).float()
    return ({"samples": latent.to(intermediate_device()), "num_frames": images.shape[0]},)


VAE_DECODE = NodeSpec(
    node_id="OpenSoraVAEDecode",
    display_name="Open-Sora VAE Decode",
    category="Open-Sora/latent",
    description="Decodes an Open-Sora latent to video frames (chunked in time, tiled in space "
    "when the VAE loader sets a tile size). The VIDEO output plugs into Save Video.",
    inputs=(
        Input("vae", VAE, "The Open-Sora VAE the latent was made with."),
        Input("latent", LATENT, "Latent {'samples': [B, C, T, H, W]}."),
        Input(
            "fps",
            FLOAT,
            "Frame rate of the VIDEO output; 0 = the sampler's fps (24 if unknown).",
            default=0.0,
            min=0.0,
            max=120.0,
            step=1.0,
        ),
        Input(
            "num_frames",
            INT,
            "Frames to decode; 0 = the count the sampler generated (or the latent's smallest).",
            default=0,
            min=0,
            max=4096,
            step=1,
        ),
    ),
    outputs=(
        Output(IMAGE, "frames", "Video frames [T, H, W, 3] in 0..1."),
        Output(VIDEO, "video", "The frames as a VIDEO at fps, for Save Video."),
    ),
    execute=decode,
)

VAE_ENCODE = NodeSpec(
    node_id="OpenSoraVAEEncode",
    display_name="Open-Sora VAE Encode",
    category="Open-Sora/latent",
    description="Encodes video frames (an IMAGE batch, one video) to an Open-Sora latent with "
    "the posterior mean; sides must be multiples of 8.",
    inputs=(
        Input("vae", VAE, "The Open-Sora VAE."),
        Input("images", IMAGE, "Frames [T, H, W, 3] in 0..1, in order."),
    ),
    outputs=(Output(LATENT, "latent", "Latent {'samples': [1, C, T', H/8, W/8]}."),),
    execute=encode,
)

SPECS = (VAE_DECODE, VAE_ENCODE)
