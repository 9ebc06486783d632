"""Presets give the strategies Open-Sora's documentation shows, and Open-Sora Plan's mask types."""

import random

import pytest
import torch

from sora_core.conditioning import (
    ConditionFrames,
    apply_mask_strategy,
    connect,
    edit,
    extend,
    format_mask_strategy,
    image_to_video,
    keyframes,
    plan_mask_type,
    plan_mask_type_for,
)
from sora_core.errors import MaskStrategyError

LATENT_FRAMES = 15


def _mask(conditions, reference_frames):
    z = torch.zeros(1, 4, LATENT_FRAMES, 2, 2)
    references = [[torch.ones(4, frames, 2, 2) for frames in reference_frames]]
    return apply_mask_strategy(z, references, [conditions], strict=True)[0].tolist()


def test_image_to_video_is_documented_string():
    assert format_mask_strategy(image_to_video()) == "0"
    assert _mask(image_to_video(), [1]) == [0.0] + [1.0] * 14


def test_connect_is_documented_string():
    assert format_mask_strategy(connect()) == "0;0,1,0,-1,1"
    assert _mask(connect(), [1, 1]) == [0.0] + [1.0] * 13 + [0.0]


def test_extend_head_at_end_is_documented_string():
    assert format_mask_strategy(extend(8, reference_frames="head", position="end")) == "0,0,0,-8,8"


def test_extend_from_tail_continues_a_video():
    conditions = extend(5)
    assert format_mask_strategy(conditions) == "0,0,-5,0,5"
    assert _mask(conditions, [15]) == [0.0] * 5 + [1.0] * 10


def test_edit_is_documented_string():
    assert format_mask_strategy(edit(32, 0.4)) == "0,0,0,0,32,0.4"
    mask = _mask(edit(LATENT_FRAMES, 0.4), [LATENT_FRAMES])
    assert mask == pytest.approx([0.4] * LATENT_FRAMES)


def test_keyframes_place_each_reference():
    conditions = keyframes([0, 7, -1], num_frames=LATENT_FRAMES)
    assert format_mask_strategy(conditions) == "0;0,1,0,7,1;0,2,0,-1,1"
    mask = _mask(conditions, [1, 1, 1])
    assert [frame for frame, value in enumerate(mask) if value == 0.0] == [0, 7, 14]


def test_keyframes_on_the_same_frame_conflict():
    with pytest.raises(MaskStrategyError, match="both go to latent frame 14"):
        keyframes([14, -1], num_frames=LATENT_FRAMES)
    with pytest.raises(MaskStrategyError, match="allowed -15..14"):
        keyframes([15], num_frames=LATENT_FRAMES)


def test_extend_rejects_unknown_sides():
    with pytest.raises(MaskStrategyError, match="'middle'"):
        extend(5, position="middle")


def _kept(conditions, reference_frames):
    return [
        frame for frame, value in enumerate(_mask(conditions, reference_frames)) if value == 0.0
    ]


def test_plan_mask_types_keep_the_frames_open_sora_plan_keeps():
    assert _kept(plan_mask_type("t2iv", LATENT_FRAMES), [1]) == []
    assert _kept(plan_mask_type("i2v", LATENT_FRAMES), [1]) == [0]
    assert _kept(plan_mask_type("transition", LATENT_FRAMES, num_references=2), [1, 1]) == [0, 14]
    assert _kept(plan_mask_type("transition", LATENT_FRAMES), [LATENT_FRAMES]) == [0, 14]
    assert _kept(plan_mask_type("clear", LATENT_FRAMES), [LATENT_FRAMES]) == list(range(15))


def test_plan_continuation_keeps_half_the_frames():
    # Inference uses clear ratios (0.5, 0.5): 7 or 8 of 15 frames, drawn at random.
    counts = {
        len(_kept(plan_mask_type("continuation", LATENT_FRAMES, rng=random.Random(seed)), [15]))
        for seed in range(20)
    }
    assert counts == {7, 8}


def test_plan_random_temporal_keeps_random_frames_in_place():
    conditions = plan_mask_type(
        "random_temporal", LATENT_FRAMES, clear_ratio=(0.2, 0.4), rng=random.Random(3)
    )
    kept = _kept(conditions, [LATENT_FRAMES])
    assert 3 <= len(kept) <= 6
    assert all(c.reference_start == c.target_start for c in conditions)


def test_plan_default_mask_type_by_input():
    assert plan_mask_type_for(1) == "i2v"
    assert plan_mask_type_for(2) == "transition"
    assert plan_mask_type_for(3) == "random_temporal"
    assert plan_mask_type_for(1, is_video=True) == "continuation"


def test_plan_errors_are_named():
    with pytest.raises(MaskStrategyError, match="'inpaint'"):
        plan_mask_type("inpaint", LATENT_FRAMES)
    with pytest.raises(MaskStrategyError, match="clear_ratio"):
        plan_mask_type("continuation", LATENT_FRAMES, clear_ratio=(0.8, 0.2))


def test_presets_are_typed_records():
    assert image_to_video(edit_ratio=0.2) == [ConditionFrames(edit_ratio=0.2)]
