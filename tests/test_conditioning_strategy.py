"""Mask strategies parse, print and apply as the reference does (`pipeline/mask_strategy.*`)."""

import pytest
import torch
from fixture_sections import section_entry, section_params

from golden import assert_close, read_tensors
from sora_core.conditioning import (
    ConditionFrames,
    LongVideoSettings,
    append_generated,
    apply_mask_strategy,
    find_nearest_point,
    format_mask_strategy,
    parse_mask_strategy,
    plan_conditions,
)
from sora_core.errors import ConfigError, MaskStrategyError, ReferenceMediaError

FIXTURE = "mask_strategy"


def _as_tuples(conditions):
    return [
        [c.loop_index, c.reference_index, c.reference_start, c.target_start, c.length, c.edit_ratio]
        for c in conditions
    ]


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(FIXTURE, "parse_mask_strategy", "input"))
def test_parse_matches_reference(index):
    case = section_entry(FIXTURE, "parse_mask_strategy", index)
    if case["status"] == "error":
        with pytest.raises(MaskStrategyError):
            parse_mask_strategy(case["input"])
        return
    parsed = parse_mask_strategy(case["input"])
    assert _as_tuples(parsed) == case["output"]
    # Printing and parsing again gives the same records, in both forms.
    for compact in (True, False):
        assert parse_mask_strategy(format_mask_strategy(parsed, compact)) == parsed


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(FIXTURE, "find_nearest_point"))
def test_find_nearest_point_matches_reference(index):
    case = section_entry(FIXTURE, "find_nearest_point", index)
    assert find_nearest_point(case["value"], case["point"], case["max_value"]) == case["result"]


def _case_references(tensors, case_index, ref_lengths):
    return [
        [tensors[f"case{case_index:02d}.ref.{batch}.{ref}"] for ref in range(len(lengths))]
        for batch, lengths in enumerate(ref_lengths)
    ]


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(FIXTURE, "apply_mask_strategy", "name"))
def test_apply_matches_reference(index):
    case = section_entry(FIXTURE, "apply_mask_strategy", index)
    tensors = read_tensors(f"pipeline/{FIXTURE}.safetensors")
    z = tensors[f"case{index:02d}.z_in"].clone()
    references = _case_references(tensors, index, case["ref_lengths"])
    call = (z, references, case["mask_strategy"], case["loop_i"], case["align"])
    if case["status"] == "error":
        with pytest.raises(MaskStrategyError):
            apply_mask_strategy(*call)
        return
    masks = apply_mask_strategy(*call)
    if case["masks"] is None:
        assert masks is None
    else:
        assert masks.dtype == torch.float32
        assert_close(masks, torch.tensor(case["masks"]), what=f"{case['name']} masks")
    assert_close(z, tensors[case["z_out_key"]], what=f"{case['name']} z")
    for strategy, parsed in zip(case["mask_strategy"], case["parsed"], strict=True):
        assert _as_tuples(parse_mask_strategy(strategy)) == parsed


class _ShapeOnlyVAE:
    """Encodes (B, 3, T, H, W) to zeros of (B, 4, latent_frames, 2, 2); only shapes matter here."""

    def __init__(self, latent_frames):
        self.latent_frames = latent_frames

    def encode(self, x):
        return torch.zeros(x.shape[0], 4, self.latent_frames, 2, 2)


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(FIXTURE, "append_generated.cases"))
def test_append_generated_matches_reference(index):
    case = section_entry(FIXTURE, "append_generated.cases", index)
    references = [
        [torch.zeros(4, length, 2, 2) for length in lengths] for lengths in case["ref_lengths"]
    ]
    settings = LongVideoSettings(
        loop=case["loop_i"] + 1,
        condition_frame_length=case["condition_frame_length"],
        condition_frame_edit=case["condition_frame_edit"],
    )
    clip = torch.zeros(len(references), 3, 51, 16, 16)
    vae = _ShapeOnlyVAE(case["generated_latent_frames"])
    new_references, strategies = append_generated(
        vae, clip, references, case["mask_strategy"], case["loop_i"], settings
    )
    assert strategies == case["out_mask_strategy"]
    assert [len(prompt) for prompt in new_references] == case["out_num_refs"]
    assert all(prompt[-1].shape[1] == case["generated_latent_frames"] for prompt in new_references)


def test_append_generated_keeps_records_as_records():
    settings = LongVideoSettings(loop=2)
    _, strategies = append_generated(
        _ShapeOnlyVAE(15), torch.zeros(1, 3, 51, 16, 16), [[]], [[ConditionFrames()]], 1, settings
    )
    assert strategies == [[ConditionFrames(), ConditionFrames(1, 0, -5, 0, 5, 0.0)]]


def test_version_1_1_appends_five_numbers():
    settings = LongVideoSettings(loop=2, condition_frame_length=4, release="1.1")
    _, strategies = append_generated(
        _ShapeOnlyVAE(16), torch.zeros(1, 3, 16, 16, 16), [[]], [""], 1, settings
    )
    assert strategies == ["1,0,-4,0,4"]


def test_records_print_as_the_documentation_writes_them():
    assert format_mask_strategy([ConditionFrames()]) == "0"
    assert (
        format_mask_strategy([ConditionFrames(), ConditionFrames(0, 1, 0, -1, 1)]) == "0;0,1,0,-1,1"
    )
    assert format_mask_strategy([ConditionFrames(length=32, edit_ratio=0.4)]) == "0,0,0,0,32,0.4"
    assert format_mask_strategy([ConditionFrames(length=5, edit_ratio=1)]) == "0,0,0,0,5,1"
    assert (
        format_mask_strategy([ConditionFrames(1, 0, -5, 0, 5)], compact=False) == "1,0,-5,0,5,0.0"
    )


@pytest.mark.parametrize(
    "strategy, field",
    [
        ("0,0,0,0,1,0,0", "1 to 6"),
        ("0,x", "reference_index = 'x' is not an integer; allowed: an integer >= 0"),
        ("0,0,0.5", "reference_start = '0.5' is not an integer; allowed: an integer,"),
        ("0,0,0,0,q", "length = 'q' is not an integer; allowed: an integer >= 1"),
        ("0;", "group 1 ''"),
        ("0,0,0,0,0", "length = 0 must be at least 1"),
        ("0,0,0,0,1,1.5", "edit_ratio = 1.5 must be a number in [0, 1]"),
        ("0,0,0,0,1,abc", "edit_ratio = 'abc' is not a number"),
    ],
)
def test_malformed_group_names_group_field_and_range(strategy, field):
    with pytest.raises(MaskStrategyError) as error:
        parse_mask_strategy(strategy)
    assert field in str(error.value)
    assert repr(strategy) in str(error.value)


def test_record_fields_are_checked():
    with pytest.raises(MaskStrategyError, match="target_start = 1.5; allowed: an integer"):
        ConditionFrames(target_start=1.5)
    with pytest.raises(MaskStrategyError, match="edit_ratio"):
        ConditionFrames(edit_ratio=-0.1)


def test_reference_index_beyond_reference_path_is_named():
    with pytest.raises(MaskStrategyError, match=r"reference_index 2 .* has 2 reference\(s\)"):
        plan_conditions("0,2", 15, [1, 1])
    with pytest.raises(MaskStrategyError, match="reference_path is empty"):
        plan_conditions("0", 15, [])


def test_groups_of_other_loops_need_no_reference():
    assert plan_conditions("1,3,0,0,5", 15, []) == []


def test_start_outside_either_latent_is_an_error():
    with pytest.raises(MaskStrategyError, match="do not fit"):
        plan_conditions("0,0,20,0,1", 15, [15])
    with pytest.raises(MaskStrategyError, match="do not fit"):
        plan_conditions("0,0,0,15,1", 15, [15])


def test_strict_rejects_a_reference_shorter_than_requested():
    assert len(plan_conditions("0,0,0,10,20", 15, [3])[0].target) == 3
    with pytest.raises(ReferenceMediaError, match="has 3 latent frames"):
        plan_conditions("0,0,0,10,20", 15, [3], strict=True)


def test_strict_rejects_a_length_past_the_end():
    with pytest.raises(MaskStrategyError, match="run past the end"):
        plan_conditions("0,0,0,12,8", 15, [15], strict=True)


def test_strict_rejects_conflicting_groups_on_the_same_frames():
    strategy = "0,0,0,0,4;0,1,0,2,4,0.5"
    assert len(plan_conditions(strategy, 15, [15, 15])) == 2  # the reference: later wins
    with pytest.raises(MaskStrategyError, match="both condition latent frame 2"):
        plan_conditions(strategy, 15, [15, 15], strict=True)


def test_reference_latent_of_the_wrong_size_is_named():
    z = torch.zeros(1, 4, 15, 2, 3)
    with pytest.raises(ReferenceMediaError, match="latent shape"):
        apply_mask_strategy(z, [[torch.zeros(4, 1, 4, 4)]], ["0"])


def test_align_zero_is_a_named_error_not_a_division():
    with pytest.raises(ConfigError, match="align = 0 must be None .* integer >= 1"):
        LongVideoSettings(align=0)
    with pytest.raises(MaskStrategyError, match="align = 0"):
        plan_conditions("0", 15, [15], align=0)


def test_error_in_a_long_strategy_stays_short():
    # The whole strategy used to be formatted into every group's message: quadratic work,
    # and a message as long as the input.
    strategy = ";".join(["0,0,0,0,1,0.5"] * 20_000) + ";0,x"
    with pytest.raises(MaskStrategyError, match="group 20000 '0,x'") as error:
        parse_mask_strategy(strategy)
    assert len(str(error.value)) < 400 and "(280003 characters)" in str(error.value)


@pytest.mark.parametrize("strategy", ["0,0,0,99999999999", "0," + "9" * 5000, "0,0,0,0,2000000"])
def test_positions_beyond_any_video_are_refused(strategy):
    with pytest.raises(MaskStrategyError, match="out of range|not an integer") as error:
        parse_mask_strategy(strategy)
    assert len(str(error.value)) < 400
