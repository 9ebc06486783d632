"""Writing generated samples: H.264 MP4 for videos, PNG for single frames."""

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .errors import VideoShapeError


def to_uint8_frames(
    video: torch.Tensor, value_range: "tuple[float, float]" = (-1.0, 1.0)
) -> np.ndarray:
    """[C, T, H, W] floats in `value_range` -> [T, H, W, C] uint8, rounded as the reference rounds."""
    if video.ndim != 4 or video.shape[0] != 3:
        raise VideoShapeError(f"video: expected shape [3, T, H, W], got {list(video.shape)}")
    low, high = value_range
    scaled = (video.detach().float().clamp(low, high) - low) / max(high - low, 1e-5)
    return scaled.mul(255).add(0.5).clamp(0, 255).permute(1, 2, 3, 0).to("cpu", torch.uint8).numpy()


def _even(frames: np.ndarray) -> np.ndarray:
    # yuv420p halves chroma resolution, so H.264 needs even sides: drop a last odd row/column.
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        warnings.warn(
            f"H.264 needs even sides: {height}x{width} is cropped to "
            f"{height - height % 2}x{width - width % 2}",
            stacklevel=3,
        )
    return frames[:, : height - height % 2, : width - width % 2]


def write_mp4(frames: np.ndarray, path: "str | Path", fps: float) -> Path:
    """Encode [T, H, W, 3] uint8 frames as an H.264 MP4 at `fps` frames per second."""
    import av

    if fps <= 0:
        raise VideoShapeError(f"fps: must be positive, got {fps}")
    frames = _even(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(
                stream.encode(
                    av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                )
            )
        container.mux(stream.encode())
    return path


def write_png(frame: np.ndarray, path: "str | Path") -> Path:
    """Save one [H, W, 3] uint8 frame as PNG."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path)
    return path


def save_sample(
    video: torch.Tensor, path_stem: "str | Path", fps: float, force_video: bool = False
) -> Path:
    """Save a decoded sample [3, T, H, W] in [-1, 1]: `<stem>.png` for one frame, else `<stem>.mp4`."""
    frames = to_uint8_frames(video)
    if len(frames) == 1 and not force_video:
        return write_png(frames[0], f"{path_stem}.png")
    return write_mp4(frames, f"{path_stem}.mp4", fps)
