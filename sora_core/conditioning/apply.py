"""Applying a mask strategy: write reference latents into the noise and build the edit mask.

The per-frame mask holds each latent frame's edit ratio (1 = generate freely, 0 = keep the
reference exactly, in between = SDEdit strength); the sampler derives the transformer's
`x_mask` from it at every step. Open-Sora's rules are kept: negative starts count from the
end, `align` snaps starts to chunk boundaries, lengths are clipped to what fits, and later
groups overwrite earlier ones. `strict=True` turns the last two into errors instead.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import MaskStrategyError, ReferenceMediaError
from .strategy import ConditionFrames, MaskStrategy, as_condition_frames, format_group


class ShortReferenceError(ReferenceMediaError):
    """A group copies more frames than its reference holds from the group's start (strict).

    Counted in latent frames; `sora_core.pipeline` restates it in the video's own frames."""

    def __init__(self, where: str, condition: ConditionFrames, frames: int, start: int):
        self.where, self.condition = where, condition
        self.reference_frames, self.source_start = frames, start
        super().__init__(
            f"{where}: reference {condition.reference_index} has {frames} latent frames, "
            f"{frames - start} from frame {start}; the group asks for {condition.length}"
        )


@dataclass(frozen=True)
class PlacedCondition:
    """A group resolved against real lengths: which frames go where, and its edit ratio."""

    condition: ConditionFrames
    target: range  # latent frames of the generated video
    source: range  # latent frames of the reference

    @property
    def edit_ratio(self) -> float:
        """The mask value of the target frames."""
        return self.condition.edit_ratio


def find_nearest_point(value: int, point: int, max_value: int) -> int:
    """Snap `value` down to a multiple of `point`, or up when past half-way and not last."""
    quotient = value // point
    if value % point > point / 2 and quotient < max_value // point - 1:
        quotient += 1
    return quotient * point


def place_condition(
    condition: ConditionFrames,
    num_frames: int,
    reference_frames: int,
    align: "int | None" = None,
    strict: bool = False,
) -> PlacedCondition:
    """Resolve negative starts, alignment and clipping of one group (all in latent frames)."""
    if align is not None and align < 1:
        raise MaskStrategyError(f"align = {align!r} must be None or an integer >= 1")
    source_start, target_start = condition.reference_start, condition.target_start
    if source_start < 0:
        source_start += reference_frames
    if target_start < 0:
        # A start below -num_frames stays negative and counts from the end once more,
        # as Python slicing does in the reference.
        target_start += num_frames
    if align is not None:
        source_start = find_nearest_point(source_start, align, reference_frames)
        target_start = find_nearest_point(target_start, align, num_frames)
    length = min(condition.length, num_frames - target_start, reference_frames - source_start)
    target = range(num_frames)[target_start : target_start + length]
    source = range(reference_frames)[source_start : source_start + length]
    where = f"mask strategy group {format_group(condition)!r}"
    if len(target) == 0 or len(target) != len(source):
        raise MaskStrategyError(
            f"{where}: reference frames from {source_start} ({reference_frames} latent frames) "
            f"do not fit the generated latent from frame {target_start} ({num_frames} latent "
            f"frames); starts must lie in [-{reference_frames}, {reference_frames - 1}] and "
            f"[-{num_frames}, {num_frames - 1}]"
        )
    if strict and len(target) < condition.length:
        if reference_frames - source_start < condition.length:
            raise ShortReferenceError(where, condition, reference_frames, source_start)
        raise MaskStrategyError(
            f"{where}: {condition.length} frames from latent frame {target_start} run past "
            f"the end of the {num_frames}-frame latent; at most {num_frames - target_start} fit"
        )
    return PlacedCondition(condition, target, source)


def plan_conditions(
    strategy: MaskStrategy,
    num_frames: int,
    reference_frames: "Sequence[int]",
    loop_index: int = 0,
    align: "int | None" = None,
    strict: bool = False,
) -> "list[PlacedCondition]":
    """The groups of one prompt's strategy that apply in `loop_index`, resolved and checked."""
    placed: list[PlacedCondition] = []
    owner: dict[int, PlacedCondition] = {}
    for condition in as_condition_frames(strategy):
        if condition.loop_index != loop_index:
            continue
        count = len(reference_frames)
        if not -count <= condition.reference_index < count:
            raise MaskStrategyError(
                f"mask strategy group {format_group(condition)!r}: reference_index "
                f"{condition.reference_index} is beyond reference_path, which has {count} "
                f"reference(s) in loop {loop_index}; allowed: {-count}..{count - 1}"
                if count
                else f"mask strategy group {format_group(condition)!r} needs a reference, "
                "but reference_path is empty"
            )
        condition_placed = place_condition(
            condition, num_frames, reference_frames[condition.reference_index], align, strict
        )
        if strict:
            _check_overlap(condition_placed, owner)
        placed.append(condition_placed)
    return placed


def _check_overlap(placed: PlacedCondition, owner: "dict[int, PlacedCondition]") -> None:
    for frame in placed.target:
        if frame in owner:
            raise MaskStrategyError(
                f"mask strategy groups {format_group(owner[frame].condition)!r} and "
                f"{format_group(placed.condition)!r} both condition latent frame {frame} "
                f"(frames {owner[frame].target.start}..{owner[frame].target.stop - 1} and "
                f"{placed.target.start}..{placed.target.stop - 1}); give each frame one group"
            )
        owner[frame] = placed


def apply_mask_strategy(
    z: torch.Tensor,
    references: "Sequence[Sequence[torch.Tensor]]",
    strategies: "Sequence[MaskStrategy]",
    loop_index: int = 0,
    align: "int | None" = None,
    strict: bool = False,
) -> "torch.Tensor | None":
    """Write reference latents into `z` in place and return the per-frame edit mask (B, T).

    z: (B, C, T, H, W); references[i]: prompt i's encoded references, each (C, T_ref, H, W);
    strategies[i]: prompt i's strategy. Returns None only for an empty `strategies` list;
    otherwise a float32 mask of ones wherever nothing is conditioned.
    """
    if not strategies:
        return None
    num_frames = z.shape[2]
    masks = torch.ones(len(strategies), num_frames, dtype=torch.float32, device=z.device)
    for index, strategy in enumerate(strategies):
        prompt_references = references[index] if index < len(references) else []
        lengths = [reference.shape[1] for reference in prompt_references]
        for placed in plan_conditions(strategy, num_frames, lengths, loop_index, align, strict):
            reference = prompt_references[placed.condition.reference_index]
            _check_latent_shape(reference, z, index, placed.condition.reference_index)
            target = slice(placed.target.start, placed.target.stop)
            source = slice(placed.source.start, placed.source.stop)
            z[index, :, target] = reference[:, source].to(z.dtype)
            masks[index, target] = placed.edit_ratio
    return masks


def _check_latent_shape(reference: torch.Tensor, z: torch.Tensor, prompt: int, index: int) -> None:
    expected = (z.shape[1], *z.shape[3:])
    found = (reference.shape[0], *reference.shape[2:])
    if reference.dim() != 4 or found != expected:
        raise ReferenceMediaError(
            f"reference {index} of prompt {prompt} has latent shape {tuple(reference.shape)}; "
            f"expected (C, T, H, W) with C, H, W = {expected} (encode it at the video's size)"
        )
