"""VAE decode (LATENT -> IMAGE frames and VIDEO) and encode (IMAGE frames -> LATENT)."""

import torch

from sora_core.errors import VideoShapeError

from .runtime import intermediate_device
from .spec import FLOAT, IMAGE, INT, LATENT, VAE, VIDEO, Input, NodeSpec, Output
from .values import VideoFrames
from .video_frames import frames_to_video, video_to_frames


def _placement(vae, memory_required: int = 0):
    from sora_core.pipeline import Placement

    device = vae.managed.load(memory_required)
    return Placement(device, vae.vae.dtype, offload_device=device)


def decode_memory(vae, samples: torch.Tensor, frames: "int | None") -> int:
    """Estimated activation bytes of decoding `samples` (B, C, T, h, w), which ComfyUI keeps
    free when it loads the VAE (partially, if the weights and these do not both fit)."""
    batch, _, latent_frames, height, width = samples.shape
    frames = frames or latent_frames * vae.vae.temporal_factor  # at most that many
    tiling = vae.vae.tiling
    return vae.vae.estimate_decode_bytes(
        height, width, batch, frames, None if tiling is None else tiling.tile_size
    )


def decode(vae, latent: dict, fps: float, num_frames: int) -> tuple:
    """Decode every latent of the batch; frames of all batch items follow each other."""
    from sora_core.pipeline import decode_latent

    samples = latent["samples"]
    if samples.dim() != 5:
        raise VideoShapeError(
            f"latent: samples of shape {tuple(samples.shape)}; an Open-Sora latent is "
            "[B, C, T, H, W] (from Open-Sora Sampler or Open-Sora VAE Encode)"
        )
    frames = num_frames or latent.get("num_frames")
    placement = _placement(vae, decode_memory(vae, samples, frames))
    video = decode_latent(vae.vae, samples, placement, frames)
    images = video_to_frames(video).to(intermediate_device())
    rate = fps or latent.get("fps") or 24.0
    return images, VideoFrames(images, float(rate))


def encode(vae, images: torch.Tensor) -> tuple:
    """Encode the frames as one video with the posterior's mean (deterministic)."""
    video = frames_to_video(images)
    vae.vae.check_pixel_size(video.shape[3], video.shape[4])
    placement = _placement(vae)
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
