"""A reference video too short for its mask-strategy group, reported in the video's terms.

Groups count latent frames (Open-Sora's grammar); a user holds a video of so many frames
at so many frames per second. With strict settings (the ComfyUI nodes) the first loop's
groups are checked against the references' pixel lengths before anything is encoded, and
a short one is reported as "a video of 9 frames (0.38 s at 24 fps) ... needs at least 49".
"""

from collections.abc import Sequence

import torch

from ..conditioning.apply import ShortReferenceError, plan_conditions
from ..conditioning.strategy import MaskStrategy
from ..errors import ReferenceMediaError


def _latent_frames(codec, frames: int) -> int:
    return codec.get_latent_size([frames, None, None])[0]


def _frames_for(codec, latent_frames: int) -> int:
    """The fewest video frames the VAE encodes into at least `latent_frames` latent frames."""
    frames = latent_frames
    while _latent_frames(codec, frames) < latent_frames:
        frames += 1
    return frames


def _frames_and_seconds(frames: int, fps: float) -> str:
    return f"{frames} frames ({frames / fps:.2f} s at {fps:g} fps)"


def describe_short_reference(short: ShortReferenceError, frames: int, codec, fps: float) -> str:
    """`short`'s message in video frames and seconds; `frames` is the reference's length."""
    condition = short.condition
    media = (
        "a picture (1 frame)" if frames == 1 else f"a video of {_frames_and_seconds(frames, fps)}"
    )
    have = (
        f"{short.where}: reference {condition.reference_index} is {media}, "
        f"{short.reference_frames} latent frames"
    )
    if condition.reference_start < 0:
        available = short.reference_frames - short.source_start
        return (
            f"{have}; the group copies {condition.length} latent frames starting "
            f"{available} before the end, where only {available} exist: set its length to "
            f"{available} or less"
        )
    needed = _frames_for(codec, short.source_start + condition.length)
    return (
        f"{have}; the group copies {condition.length} latent frames from latent frame "
        f"{short.source_start}, which needs a video of at least "
        f"{_frames_and_seconds(needed, fps)}: use a longer video or a smaller length"
    )


def check_reference_lengths(
    codec,
    references: "Sequence[Sequence[torch.Tensor]]",
    strategies: "Sequence[MaskStrategy]",
    num_frames: int,
    fps: float,
    align: "int | None" = None,
) -> None:
    """Fail before encoding when a first-loop group needs more of a reference than it has.

    references[i]: prompt i's pixels, each (3, T, H, W); `num_frames`: the clip's video frames."""
    latent_frames = _latent_frames(codec, num_frames)
    for prompt, strategy in zip(references, strategies):
        lengths = [_latent_frames(codec, pixels.shape[1]) for pixels in prompt]
        try:
            plan_conditions(strategy, latent_frames, lengths, 0, align, strict=True)
        except ShortReferenceError as short:
            frames = prompt[short.condition.reference_index].shape[1]
            raise ReferenceMediaError(describe_short_reference(short, frames, codec, fps)) from None
