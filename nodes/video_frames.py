"""ComfyUI's frame layout <-> the library's video layout."""

import torch

from sora_core.errors import VideoShapeError


def video_to_frames(video: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) in [-1, 1] -> IMAGE frames [B*T, H, W, 3] float32 in 0..1."""
    frames = video.float().permute(0, 2, 3, 4, 1).flatten(0, 1)  # [B*T, H, W, 3]
    return ((frames + 1) / 2).clamp(0, 1)


def frames_to_video(frames: torch.Tensor) -> torch.Tensor:
    """IMAGE frames [T, H, W, 3] in 0..1 -> one video (1, 3, T, H, W) in [-1, 1]."""
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise VideoShapeError(
            f"images: shape {tuple(frames.shape)}; expected IMAGE frames [T, H, W, 3] (RGB)"
        )
    return (frames.float() * 2 - 1).permute(3, 0, 1, 2)[None]
