"""Reference media for conditioning: image and video files, or frames already in memory.

Every reference becomes pixels (3, T, H, W) in [-1, 1] at the generation size, then one
latent per reference (each encoded on its own, as Open-Sora does). `reference_path` strings
list several references separated by `;`; the mask strategy's reference index counts them.
"""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import av
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import ReferenceMediaError
from .transforms import transform_image, transform_video

# torchvision's IMG_EXTENSIONS and Open-Sora's VID_EXTENSIONS.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")
REFERENCE_SEPARATOR = ";"
URL_PREFIXES = ("http://", "https://", "ftp://", "ftps://")

ReferenceSource = str | Path | torch.Tensor


class LatentVideoCodec(Protocol):
    """What conditioning needs of a VAE: pixels (B, 3, T, H, W) in [-1, 1] <-> latents."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, C, T', H', W')."""

    def decode(self, z: torch.Tensor, num_frames: "int | None" = None) -> torch.Tensor:
        """(B, C, T', H', W') -> (B, 3, num_frames, H, W)."""

    def get_latent_size(self, input_size: "Sequence[int | None]") -> "list[int | None]":
        """[T, H, W] -> [T', H', W']."""


def split_reference_path(reference_path: "str | None") -> "list[str]":
    """`"a.png;b.mp4"` -> ["a.png", "b.mp4"]; "" and None -> []."""
    if not reference_path:
        return []
    return reference_path.split(REFERENCE_SEPARATOR)


def decode_video(
    path: "str | Path", what: str = "reference video"
) -> "tuple[torch.Tensor, float | None]":
    """Every frame of a video file as (T, 3, H, W) uint8 RGB (decoded with `av`) and its fps."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate) if stream.average_rate else None
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except (av.error.FFmpegError, ValueError, IndexError) as error:
        raise ReferenceMediaError(f"{what} {str(path)!r} cannot be decoded: {error}") from None
    if not frames:
        raise ReferenceMediaError(f"{what} {str(path)!r} has no video frames")
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2), fps


def read_video_frames(path: "str | Path") -> torch.Tensor:
    """Every frame of a video file as (T, 3, H, W) uint8 RGB, decoded with `av`."""
    return decode_video(path)[0]


def read_image(path: "str | Path", what: str = "reference image") -> Image.Image:
    """An image file as an RGB PIL image."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise ReferenceMediaError(f"{what} {str(path)!r} cannot be read: {error}") from None


def load_reference_file(
    path: "str | Path", image_size: "Sequence[int]", transform_name: str = "resize_crop"
) -> torch.Tensor:
    """An image or video file -> (3, T, H, W) in [-1, 1] (T = 1 for an image)."""
    text = str(path)
    if text.lower().startswith(URL_PREFIXES):
        raise ReferenceMediaError(
            f"reference {text!r} is a URL; download it and give the local file path"
        )
    extension = Path(text).suffix.lower()
    if extension not in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
        raise ReferenceMediaError(
            f"reference {text!r}: extension {extension!r} is not supported; images "
            f"{IMAGE_EXTENSIONS}, videos {VIDEO_EXTENSIONS}"
        )
    if not Path(text).is_file():
        raise ReferenceMediaError(f"reference file {text!r} does not exist")
    size = (int(image_size[0]), int(image_size[1]))
    if extension in VIDEO_EXTENSIONS:
        return transform_video(read_video_frames(text), size, transform_name).permute(1, 0, 2, 3)
    return transform_image(read_image(text), size, transform_name)[:, None]


def load_reference_frames(
    frames: torch.Tensor, image_size: "Sequence[int]", transform_name: str = "resize_crop"
) -> torch.Tensor:
    """Frames in memory, (T, H, W, 3) or (H, W, 3) in [0, 1] as ComfyUI's IMAGE -> (3, T, H, W).

    One frame is treated as an image file would be (8-bit, PIL bicubic), so a ComfyUI image
    loaded from a PNG gives the same reference as the PNG's path; several as a video.
    """
    if frames.dim() == 3:
        frames = frames[None]
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ReferenceMediaError(
            f"reference frames of shape {tuple(frames.shape)}: expected (T, H, W, 3) or (H, W, 3)"
        )
    if frames.shape[0] == 0:
        raise ReferenceMediaError("reference frames are empty (T = 0)")
    size = (int(image_size[0]), int(image_size[1]))
    if frames.shape[0] == 1:
        pixels = frames[0].float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
        return transform_image(Image.fromarray(pixels), size, transform_name)[:, None]
    video = frames.float().permute(0, 3, 1, 2)
    return transform_video(video, size, transform_name).permute(1, 0, 2, 3)


def load_reference(
    source: ReferenceSource, image_size: "Sequence[int]", transform_name: str = "resize_crop"
) -> torch.Tensor:
    """A path or in-memory frames -> reference pixels (3, T, H, W) in [-1, 1]."""
    if isinstance(source, torch.Tensor):
        return load_reference_frames(source, image_size, transform_name)
    return load_reference_file(source, image_size, transform_name)


def load_references(
    sources: "str | Sequence[ReferenceSource] | None",
    image_size: "Sequence[int]",
    transform_name: str = "resize_crop",
) -> "list[torch.Tensor]":
    """One prompt's references: a `;`-separated `reference_path` string or a list of sources."""
    if sources is None or isinstance(sources, str):
        sources = split_reference_path(sources)
    return [load_reference(source, image_size, transform_name) for source in sources]


def encode_references(
    vae: LatentVideoCodec,
    references: "Sequence[Sequence[torch.Tensor]]",
    device: "torch.device | str | None" = None,
    dtype: "torch.dtype | None" = None,
    noise_strength: float = 0.0,
    generator: "torch.Generator | None" = None,
) -> "list[list[torch.Tensor]]":
    """Encode every reference on its own: (3, T, H, W) pixels -> (C, T', H', W') latent.

    `noise_strength` > 0 first adds Open-Sora Plan's condition noise (`add_condition_noise`).
    """
    return [
        [
            vae.encode(
                add_condition_noise(pixels, noise_strength, generator)[None].to(
                    device=device, dtype=dtype
                )
            )[0]
            for pixels in prompt
        ]
        for prompt in references
    ]


def add_condition_noise(
    pixels: torch.Tensor, noise_strength: float, generator: "torch.Generator | None" = None
) -> torch.Tensor:
    """Open-Sora Plan's `noise_strength`: Gaussian noise of sigma ~ strength on condition pixels.

    sigma = exp(N(log strength, 0.01)), added in [-1, 1] pixel space before encoding, so the
    model treats the condition as slightly uncertain; 0 leaves the pixels unchanged.
    """
    if not 0.0 <= noise_strength <= 1.0:
        raise ReferenceMediaError(f"noise_strength {noise_strength!r} must be in [0, 1]")
    if noise_strength == 0.0:
        return pixels
    device = generator.device if generator is not None else torch.device("cpu")
    sigma = torch.exp(
        math.log(noise_strength) + 0.01 * torch.randn((), generator=generator, device=device)
    )
    noise = torch.randn(pixels.shape, generator=generator, device=device)
    return pixels + (sigma * noise).to(pixels.device, pixels.dtype)
