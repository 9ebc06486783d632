"""Resize, crop and normalise frames exactly as Open-Sora's data transforms do.

Images go through PIL (bicubic), videos through `torch.nn.functional.interpolate` (bilinear),
and the two crop at slightly different offsets: images use round((s - t) / 2), videos
int(round(s - t) / 2). Outputs are in [-1, 1].
"""

import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ConfigError, ReferenceMediaError, VideoShapeError

TRANSFORM_NAMES = ("resize_crop", "center")


def _fill_size(height: int, width: int, size: "tuple[int, int]") -> "tuple[int, int, bool]":
    """The resized (h, w) that covers `size` keeping the aspect, and whether width overflows."""
    target_height, target_width = size
    scale_height, scale_width = target_height / height, target_width / width
    if scale_height > scale_width:
        return target_height, round(width * scale_height), True
    return round(height * scale_width), target_width, False


def resize_crop_image(image: Image.Image, size: "tuple[int, int]") -> Image.Image:
    """Bicubic-resize to cover (height, width), then crop the middle (image offsets)."""
    width, height = image.size
    new_height, new_width, wide = _fill_size(height, width, size)
    image = image.resize((new_width, new_height), Image.Resampling.BICUBIC)
    top = 0 if wide else int(round((new_height - size[0]) / 2.0))
    left = int(round((new_width - size[1]) / 2.0)) if wide else 0
    return image.crop((left, top, left + size[1], top + size[0]))


def center_crop_image(image: Image.Image, size: int) -> Image.Image:
    """ADM's square crop: halve (box) while large, bicubic to the short side, crop the centre."""
    while min(image.size) >= 2 * size:
        image = image.resize(tuple(side // 2 for side in image.size), resample=Image.Resampling.BOX)
    scale = size / min(image.size)
    image = image.resize(
        tuple(round(side * scale) for side in image.size), resample=Image.Resampling.BICUBIC
    )
    top, left = (image.size[1] - size) // 2, (image.size[0] - size) // 2
    return image.crop((left, top, left + size, top + size))


def normalize(frames: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1] (mean 0.5, std 0.5 per channel)."""
    return frames.sub(0.5).div(0.5)


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image -> (3, H, W) float in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return normalize(torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255))


def transform_image(
    image: Image.Image, size: "tuple[int, int]", name: str = "resize_crop"
) -> torch.Tensor:
    """The reference's image transform: PIL image -> (3, H, W) in [-1, 1]."""
    _check_name(name, size)
    cropped = (
        resize_crop_image(image, size)
        if name == "resize_crop"
        else center_crop_image(image, size[0])
    )
    return image_to_tensor(cropped)


def resize_crop_video(frames: torch.Tensor, size: "tuple[int, int]") -> torch.Tensor:
    """(T, C, H, W) float: bilinear-resize to cover `size`, crop the middle (video offsets)."""
    new_height, new_width, wide = _fill_size(frames.shape[-2], frames.shape[-1], size)
    frames = F.interpolate(
        frames, size=(new_height, new_width), mode="bilinear", align_corners=False
    )
    # The reference halves the rounded difference and truncates, unlike the image path.
    top = 0 if wide else int(round(new_height - size[0]) / 2.0)
    left = int(round(new_width - size[1]) / 2.0) if wide else 0
    return frames[..., top : top + size[0], left : left + size[1]]


def center_crop_video(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(T, C, H, W) float: scale the short side to `size` (bilinear), crop the centre square."""
    scale = size / min(frames.shape[-2:])
    frames = F.interpolate(frames, scale_factor=scale, mode="bilinear", align_corners=False)
    height, width = frames.shape[-2:]
    if height < size or width < size:
        raise VideoShapeError(f"frames of {height}x{width} are smaller than the {size} crop")
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return frames[..., top : top + size, left : left + size]


def transform_video(
    frames: torch.Tensor, size: "tuple[int, int]", name: str = "resize_crop"
) -> torch.Tensor:
    """The reference's video transform: (T, C, H, W) uint8 or [0, 1] float -> [-1, 1] float."""
    _check_name(name, size)
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255.0
    frames = (
        resize_crop_video(frames, size)
        if name == "resize_crop"
        else center_crop_video(frames, size[0])
    )
    return normalize(frames)


def _check_name(name: str, size: "tuple[int, int]") -> None:
    if name not in TRANSFORM_NAMES:
        raise ConfigError(f"transform {name!r} is not known; choose one of {TRANSFORM_NAMES}")
    if name == "center" and size[0] != size[1]:
        raise VideoShapeError(f"the 'center' transform needs a square size, got {tuple(size)}")


def temporal_random_crop(
    total_frames: int, num_frames: int, frame_interval: int = 1, rng: "random.Random | None" = None
) -> "list[int]":
    """Indices of `num_frames` frames spaced by `frame_interval` from a random start.

    As the reference, the start is drawn from [0, total - span - 1] (never the last possible
    offset) with Python's `random`, and the indices are a truncated linspace.
    """
    rng = rng or random.Random()
    span = num_frames * frame_interval
    begin = rng.randint(0, max(0, total_frames - span - 1))
    end = min(begin + span, total_frames)
    if end - begin < num_frames:
        raise ReferenceMediaError(
            f"a clip of {total_frames} frames is too short for {num_frames} frames "
            f"(from frame {begin}, {end - begin} available)"
        )
    return np.linspace(begin, end - 1, num_frames, dtype=int).tolist()
