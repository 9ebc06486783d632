"""Common conditionings as mask strategies, one function each.

Each returns the typed groups; `format_mask_strategy` gives the string Open-Sora's docs show
(image-to-video "0", connect "0;0,1,0,-1,1", extend "0,0,0,-8,8", edit "0,0,0,0,32,0.4").
Positions and lengths are latent frames. Open-Sora Plan v1.3's mask types map onto the same
groups, so its workflows run on Open-Sora's models.
"""

import math
import random
from collections.abc import Sequence

from ..errors import MaskStrategyError
from .strategy import ConditionFrames

PLAN_MASK_TYPES = ("t2iv", "i2v", "transition", "continuation", "clear", "random_temporal")


def image_to_video(reference_index: int = 0, edit_ratio: float = 0.0) -> "list[ConditionFrames]":
    """The reference image becomes the first frame ("0")."""
    return [ConditionFrames(reference_index=reference_index, edit_ratio=edit_ratio)]


def connect(
    first_reference: int = 0, last_reference: int = 1, edit_ratio: float = 0.0
) -> "list[ConditionFrames]":
    """One image first, another last ("0;0,1,0,-1,1")."""
    return [
        ConditionFrames(reference_index=first_reference, edit_ratio=edit_ratio),
        ConditionFrames(reference_index=last_reference, target_start=-1, edit_ratio=edit_ratio),
    ]


def keyframes(
    positions: "Sequence[int]", num_frames: "int | None" = None, edit_ratio: float = 0.0
) -> "list[ConditionFrames]":
    """Reference i at latent frame positions[i] (negative counts from the end).

    With `num_frames`, positions are checked against the latent length and each other.
    """
    conditions = [
        ConditionFrames(reference_index=index, target_start=position, edit_ratio=edit_ratio)
        for index, position in enumerate(positions)
    ]
    if num_frames is not None:
        resolved: dict[int, int] = {}
        for index, position in enumerate(positions):
            frame = position + num_frames if position < 0 else position
            if not 0 <= frame < num_frames:
                raise MaskStrategyError(
                    f"keyframe {index} at position {position}: allowed -{num_frames}..{num_frames - 1}"
                )
            if frame in resolved:
                raise MaskStrategyError(
                    f"keyframes {resolved[frame]} and {index} both go to latent frame {frame}"
                )
            resolved[frame] = index
    return conditions


def extend(
    length: int,
    reference_frames: str = "tail",
    position: str = "start",
    reference_index: int = 0,
    edit_ratio: float = 0.0,
) -> "list[ConditionFrames]":
    """Continue a video: its `tail` (or `head`) latent frames at the `start` (or `end`).

    The default continues from the tail ("0,0,-5,0,5"); Open-Sora 1.1's documented
    extension puts the head at the end ("0,0,0,-8,8" for head/end and 8 frames).
    """
    sides = {"tail": -length, "head": 0}, {"start": 0, "end": -length}
    if reference_frames not in sides[0] or position not in sides[1]:
        raise MaskStrategyError(
            f"extend: reference_frames {reference_frames!r} must be 'tail' or 'head', "
            f"position {position!r} 'start' or 'end'"
        )
    return [
        ConditionFrames(
            reference_index=reference_index,
            reference_start=sides[0][reference_frames],
            target_start=sides[1][position],
            length=length,
            edit_ratio=edit_ratio,
        )
    ]


def edit(length: int, edit_ratio: float, reference_index: int = 0) -> "list[ConditionFrames]":
    """Re-generate `length` latent frames of a video with SDEdit strength `edit_ratio`."""
    return [ConditionFrames(reference_index=reference_index, length=length, edit_ratio=edit_ratio)]


def plan_mask_type_for(num_images: int, is_video: bool = False) -> str:
    """Open-Sora Plan's default mask type for its inputs: 1 image i2v, 2 transition, a video continuation."""
    if is_video:
        return "continuation"
    return {0: "t2iv", 1: "i2v", 2: "transition"}.get(num_images, "random_temporal")


def plan_mask_type(
    mask_type: str,
    num_frames: int,
    num_references: int = 1,
    clear_ratio: "tuple[float, float]" = (0.5, 0.5),
    rng: "random.Random | None" = None,
) -> "list[ConditionFrames]":
    """Open-Sora Plan v1.3's mask types as groups over `num_frames` latent frames.

    t2iv: nothing kept; i2v: the first frame; transition: first and last (two images, or
    one video's own ends); continuation: the video's first n frames; clear: every frame;
    random_temporal: n random frames at their own positions. n is drawn from
    [floor(T * clear_ratio[0]), ceil(T * clear_ratio[1])] with `rng`, as Plan's MaskProcessor.
    """
    if mask_type not in PLAN_MASK_TYPES:
        raise MaskStrategyError(f"mask_type {mask_type!r}: choose one of {PLAN_MASK_TYPES}")
    if mask_type == "t2iv":
        return []
    if mask_type == "i2v":
        return image_to_video()
    if mask_type == "transition":
        if num_references >= 2:
            return connect()
        return [ConditionFrames(), ConditionFrames(reference_start=-1, target_start=-1)]
    if mask_type == "clear":
        return [ConditionFrames(length=num_frames)]
    low, high = clear_ratio
    if not 0.0 <= low <= high <= 1.0:
        raise MaskStrategyError(f"clear_ratio {clear_ratio!r} must satisfy 0 <= min <= max <= 1")
    rng = rng or random.Random()
    kept = rng.randint(math.floor(num_frames * low), math.ceil(num_frames * high))
    if kept == 0:
        return []
    if mask_type == "continuation":
        return [ConditionFrames(length=kept)]
    frames = sorted(rng.sample(range(num_frames), kept))
    return [ConditionFrames(reference_start=frame, target_start=frame) for frame in frames]
