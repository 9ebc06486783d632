"""The mask-strategy builder: references from IMAGE/VIDEO and Open-Sora's groups as widgets.

Builders chain: each adds its references after the previous builder's and its groups refer
to them by their own order. Positions and lengths count latent frames, as the grammar does.
"""

from dataclasses import replace

import torch

from sora_core.conditioning import (
    ConditionFrames,
    connect,
    edit,
    extend,
    format_mask_strategy,
    image_to_video,
    keyframes,
    parse_mask_strategy,
)
from sora_core.errors import MaskStrategyError

from .spec import (
    BOOLEAN,
    COMBO,
    FLOAT,
    IMAGE,
    INT,
    MASK_STRATEGY,
    STRING,
    VIDEO,
    Input,
    NodeSpec,
    Output,
)
from .values import MaskStrategyValue

PRESETS = ("custom", "image-to-video", "connect", "keyframes", "extend", "edit")
# How many references of this node a preset places, at least.
PRESET_REFERENCES = {"image-to-video": 1, "connect": 2, "keyframes": 1, "extend": 1, "edit": 1}
EXTEND_SIDES = ("tail at start", "head at end")


def node_references(
    images: "torch.Tensor | None", images_are_video: bool, video: "torch.Tensor | None"
) -> "list[torch.Tensor]":
    """This node's references as ComfyUI frames: each image alone or the batch as one video,
    then the VIDEO's frames."""
    references = []
    if images is not None:
        references.extend([images] if images_are_video else [frame[None] for frame in images])
    if video is not None:
        references.append(video)
    return references


def parse_positions(text: str) -> "list[int]":
    """`"0, 8, -1"` -> [0, 8, -1] (latent frames; negative counts from the end)."""
    try:
        return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise MaskStrategyError(
            f"keyframe_positions: {text!r} must be integers separated by commas, e.g. 0,-1"
        ) from None


def preset_groups(
    preset: str,
    count: int,
    target_frame: int,
    source_start: int,
    length: int,
    edit_ratio: float,
    keyframe_positions: str,
    extend_side: str,
) -> "list[ConditionFrames]":
    """The groups of `preset` over this node's `count` references (indices from 0)."""
    needed = PRESET_REFERENCES.get(preset, 0)
    if count < needed:
        raise MaskStrategyError(
            f"images: the {preset} preset needs {needed} reference(s), this node has {count}; "
            "connect IMAGE frames or a VIDEO"
        )
    if preset == "custom":
        return [
            ConditionFrames(0, index, source_start, target_frame, length, edit_ratio)
            for index in range(count)
        ]
    if preset == "image-to-video":
        return image_to_video(0, edit_ratio)
    if preset == "connect":
        return connect(0, 1, edit_ratio)
    if preset == "keyframes":
        positions = parse_positions(keyframe_positions)
        if len(positions) != count:
            raise MaskStrategyError(
                f"keyframe_positions: {len(positions)} position(s) for {count} reference(s); "
                "give one latent frame per reference"
            )
        return keyframes(positions, edit_ratio=edit_ratio)
    if preset == "extend":
        reference_frames, position = (
            ("tail", "start") if extend_side == EXTEND_SIDES[0] else ("head", "end")
        )
        return extend(length, reference_frames, position, 0, edit_ratio)
    return edit(length, edit_ratio, 0)


def build_mask_strategy(
    preset: str,
    loop_index: int,
    target_frame: int,
    source_start: int,
    length: int,
    edit_ratio: float,
    keyframe_positions: str,
    extend_side: str,
    images_are_video: bool,
    raw_strategy: str,
    images: "torch.Tensor | None" = None,
    video: "torch.Tensor | None" = None,
    previous: "MaskStrategyValue | None" = None,
) -> tuple:
    """Append this node's references and groups to `previous` (reference indices shifted)."""
    previous = previous or MaskStrategyValue()
    references = node_references(images, images_are_video, video)
    offset = len(previous.references)
    groups = preset_groups(
        preset,
        len(references),
        target_frame,
        source_start,
        length,
        edit_ratio,
        keyframe_positions,
        extend_side,
    )
    groups = [
        replace(group, loop_index=loop_index, reference_index=group.reference_index + offset)
        for group in groups
    ]
    # Raw groups index the whole chain's references, as in an Open-Sora prompt.
    groups.extend(parse_mask_strategy(raw_strategy.strip()))
    all_references = (*previous.references, *references)
    for group in groups:
        if group.reference_index >= len(all_references):
            raise MaskStrategyError(
                f"raw_strategy: group {group} uses reference {group.reference_index}, but the "
                f"chain has {len(all_references)} reference(s) (0-based)"
            )
    value = MaskStrategyValue(all_references, (*previous.conditions, *groups))
    return value, format_mask_strategy(value.conditions)


def check_mask_strategy_inputs(
    preset=None,
    edit_ratio=None,
    keyframe_positions=None,
    raw_strategy=None,
    extend_side=None,
    **_,
) -> "bool | str":
    """Reject, before running, what no reference could make valid; the message names the field."""
    if preset is not None and preset not in PRESETS:
        return f"preset: {preset!r} is not one of {list(PRESETS)}"
    if extend_side is not None and extend_side not in EXTEND_SIDES:
        return f"extend_side: {extend_side!r} is not one of {list(EXTEND_SIDES)}"
    if preset == "edit" and edit_ratio == 0:
        return "edit_ratio: the edit preset needs edit_ratio > 0 (0 copies the video unchanged)"
    try:
        if raw_strategy:
            parse_mask_strategy(raw_strategy.strip())
        if preset == "keyframes" and keyframe_positions is not None:
            if not parse_positions(keyframe_positions):
                return "keyframe_positions: give one latent frame per reference, e.g. 0,-1"
    except MaskStrategyError as error:
        message = str(error)
        return message if message.startswith("keyframe_positions") else f"raw_strategy: {message}"
    return True


def _int(name: str, tooltip: str, default: int, low: int, high: int = 4096) -> Input:
    return Input(name, INT, tooltip, default=default, min=low, max=high, step=1)


MASK_STRATEGY_BUILDER = NodeSpec(
    node_id="OpenSoraMaskStrategy",
    display_name="Open-Sora Mask Strategy",
    category="Open-Sora/conditioning",
    description="Conditions generation on images and videos (Open-Sora's mask strategy): "
    "image-to-video, connecting two images, keyframes, extending or editing a video, or custom "
    "groups. Positions and lengths are latent frames (1.2: one latent = 4 video frames after "
    "the first). Chain builders to combine references; the text output shows the strategy.",
    inputs=(
        Input(
            "preset",
            COMBO,
            "custom: every reference at target_frame; image-to-video: the first reference "
            "opens the video; connect: first opens, second closes; keyframes: one reference per "
            "keyframe_positions entry; extend: continue a video; edit: re-generate a video.",
            default="image-to-video",
            options=PRESETS,
        ),
        _int("loop_index", "The long-video loop these groups apply to (0 = first clip).", 0, 0),
        _int(
            "target_frame",
            "custom: latent frame where the reference goes; negative counts from the end.",
            0,
            -4096,
        ),
        _int(
            "source_start",
            "custom: first latent frame of the reference to use; negative counts from its end.",
            0,
            -4096,
        ),
        _int("length", "custom/extend/edit: number of latent frames copied.", 1, 1),
        Input(
            "edit_ratio",
            FLOAT,
            "How freely the condition frames may change: 0 keeps them exactly, 1 ignores them "
            "(SDEdit strength).",
            default=0.0,
            min=0.0,
            max=1.0,
            step=0.05,
        ),
        Input(
            "keyframe_positions",
            STRING,
            "keyframes: one latent frame per reference, comma-separated (e.g. 0,7,-1).",
            default="0,-1",
        ),
        Input(
            "extend_side",
            COMBO,
            "extend: 'tail at start' continues after the video (its last frames open the new "
            "clip); 'head at end' leads into it (Open-Sora 1.1's documented extension).",
            default=EXTEND_SIDES[0],
            options=EXTEND_SIDES,
        ),
        Input(
            "images_are_video",
            BOOLEAN,
            "On: the IMAGE batch is one video (e.g. frames from Load Video). Off: each image "
            "is its own reference.",
            default=False,
        ),
        Input(
            "raw_strategy",
            STRING,
            "Extra groups in Open-Sora's syntax loop,ref,ref_start,target_start,length,"
            "edit_ratio;... with ref counting every reference of the chain.",
            default="",
        ),
        Input("images", IMAGE, "Reference images (or video frames).", optional=True),
        Input("video", VIDEO, "A reference video.", optional=True),
        Input(
            "previous",
            MASK_STRATEGY,
            "Another builder's output to extend: its references come first.",
            optional=True,
        ),
    ),
    outputs=(
        Output(MASK_STRATEGY, "mask_strategy", "References and groups for the sampler."),
        Output(STRING, "strategy_text", "The strategy in Open-Sora's syntax."),
    ),
    execute=build_mask_strategy,
    validate=check_mask_strategy_inputs,
    checked_early="raw_strategy",
)

SPECS = (MASK_STRATEGY_BUILDER,)
