"""Conditioning of generation on images and videos: Open-Sora's mask strategies.

`strategy` parses and prints the grammar, `apply` writes reference latents into the noise,
`references` loads and encodes media, `long_video` runs clip after clip, `presets` builds
common strategies (and Open-Sora Plan's mask types).
"""

from .apply import (
    PlacedCondition,
    apply_mask_strategy,
    find_nearest_point,
    place_condition,
    plan_conditions,
)
from .long_video import (
    LongVideoResult,
    LongVideoSettings,
    LoopRecord,
    append_generated,
    frame_bookkeeping,
    generate_long_video,
    stitch_clips,
)
from .presets import (
    PLAN_MASK_TYPES,
    connect,
    edit,
    extend,
    image_to_video,
    keyframes,
    plan_mask_type,
    plan_mask_type_for,
)
from .references import (
    LatentVideoCodec,
    add_condition_noise,
    encode_references,
    load_reference,
    load_references,
    split_reference_path,
)
from .strategy import (
    ConditionFrames,
    MaskStrategy,
    as_condition_frames,
    format_mask_strategy,
    parse_mask_strategy,
)

__all__ = [
    "ConditionFrames",
    "LatentVideoCodec",
    "LongVideoResult",
    "LongVideoSettings",
    "frame_bookkeeping",
    "LoopRecord",
    "MaskStrategy",
    "PLAN_MASK_TYPES",
    "PlacedCondition",
    "add_condition_noise",
    "append_generated",
    "apply_mask_strategy",
    "as_condition_frames",
    "connect",
    "edit",
    "encode_references",
    "extend",
    "find_nearest_point",
    "format_mask_strategy",
    "generate_long_video",
    "image_to_video",
    "keyframes",
    "load_reference",
    "load_references",
    "parse_mask_strategy",
    "place_condition",
    "plan_conditions",
    "plan_mask_type",
    "plan_mask_type_for",
    "split_reference_path",
    "stitch_clips",
]
