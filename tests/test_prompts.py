"""The prompt syntax matches the reference on every case of `pipeline/prompts.json`."""

import pytest

from golden import read_json
from sora_core.errors import PromptError
from sora_core.prompts import (
    append_scores,
    extract_json_from_prompts,
    merge_loop_prompt,
    prompt_for_loop,
    split_loop_prompt,
)

FIXTURE = "pipeline/prompts.json"


def _cases(section: str) -> list:
    return read_json(FIXTURE)[section]


@pytest.mark.parity
def test_extract_json_matches_reference():
    for case in _cases("extract_json_from_prompts"):
        call = (case["prompts"], case["reference_path_in"], case["mask_strategy_in"])
        if case["status"] == "error":
            with pytest.raises(PromptError):
                extract_json_from_prompts(*call)
            continue
        expected = (case["prompts_out"], case["reference_path_out"], case["mask_strategy_out"])
        assert extract_json_from_prompts(*call) == expected, case["prompts"]


@pytest.mark.parity
def test_loop_prompts_match_reference():
    for case in _cases("multi_prompt_loops"):
        segments, loop_indices = split_loop_prompt(case["prompt"])
        assert segments == case["split_prompt"]["segments"]
        assert loop_indices == case["split_prompt"]["loop_idx"]
        merged = merge_loop_prompt(segments, loop_indices)
        assert merged == case["merge_prompt"]
        for loop, expected in case["extract_prompts_loop_of_merged"].items():
            assert prompt_for_loop(merged, int(loop)) == expected
        for loop, expected in case["extract_prompts_loop_of_raw"].items():
            assert prompt_for_loop(case["prompt"], int(loop)) == expected


@pytest.mark.parity
def test_score_suffixes_match_reference():
    for case in _cases("append_score_to_prompts"):
        scores = (case.get("aes"), case.get("flow"), case.get("camera_motion"))
        assert [append_scores(prompt, *scores) for prompt in case["prompts"]] == case["output"]


def test_unknown_json_key_is_named():
    with pytest.raises(PromptError, match="foo"):
        extract_json_from_prompts(['x {"foo": 1}'], [""], [""])


def test_loop_index_that_is_not_a_number_is_named():
    with pytest.raises(PromptError, match="'two'"):
        split_loop_prompt("|0|a|two|b")


def test_loop_index_without_text_is_an_error():
    with pytest.raises(PromptError, match="no text"):
        prompt_for_loop("|0|a|2", 0)


@pytest.mark.parametrize("index", ["²", "٣", "1e3", "9" * 5000, "-1"])
def test_loop_index_must_be_ascii_digits(index):
    with pytest.raises(PromptError, match="is not a loop index"):
        split_loop_prompt(f"|0|a|{index}|b")


def test_loop_index_beyond_the_loop_limit_is_named():
    # The reference lists one text per loop: this index alone used to build 1.5 GB.
    with pytest.raises(PromptError, match="loop index 999999999 is out of range; .* 1000 loops"):
        prompt_for_loop("|0|a|999999999|b", 3)


def test_per_loop_texts_cover_loops_as_the_reference_counts_them():
    prompt = "|0|a|3|b|2|c"  # out of order: b covers no loop, c covers loops 3, 4, ...
    assert [prompt_for_loop(prompt, loop) for loop in range(6)] == ["a", "a", "a", "c", "c", "c"]
    assert prompt_for_loop("|0|a|999|b", 998) == "a"
    assert prompt_for_loop("|0|a|999|b", 999) == "b"


def test_deeply_nested_prompt_json_is_a_prompt_error():
    with pytest.raises(PromptError, match="malformed"):
        extract_json_from_prompts(['a cat{"reference_path": ' + "[" * 100_000], [""], [""])
