"""The `buckets` fixture: every config's bucket table (order, ids, num_bucket, pixel
criteria) and every `get_bucket_id` case with its (T, H, W) and batch size; bad configs."""

import pytest
from fixture_sections import section_entry, section_params

from sora_core.datasets import Bucket
from sora_core.errors import ConfigError

CONFIGS = section_params("buckets", "configs")


def _frame_keys(table: dict) -> dict:
    return {
        name: {int(frames): value for frames, value in entries.items()}
        for name, entries in table.items()
    }


@pytest.mark.parity
@pytest.mark.parametrize("index", CONFIGS)
def test_bucket_table(index):
    config = section_entry("buckets", "configs", index)
    bucket = Bucket(config["bucket_config"])
    internals = config["internals"]
    assert list(bucket.probs) == internals["resolution_order"]
    assert {name: list(probs) for name, probs in bucket.probs.items()} == {
        name: list(map(int, frames)) for name, frames in internals["num_frames_order"].items()
    }
    assert bucket.bucket_id == _frame_keys(internals["bucket_id"])
    assert bucket.num_bucket == internals["num_bucket"]
    assert bucket.hw_criteria == internals["hw_criteria"]


@pytest.mark.parity
@pytest.mark.parametrize("index", CONFIGS)
def test_get_bucket_id_cases(index):
    config = section_entry("buckets", "configs", index)
    bucket = Bucket(config["bucket_config"])
    failures = []
    for case in config["get_bucket_id_cases"]:
        assert case["status"] == "ok", "error cases are not recorded for get_bucket_id"
        args = (case["T"], case["H"], case["W"], case["frame_interval"], case["seed"])
        got = bucket.get_bucket_id(*args)
        expected = None if case["bucket"] is None else tuple(case["bucket"])
        if got != expected:
            failures.append(f"{args}: {got} != {expected}")
        elif got is not None and (
            list(bucket.get_thw(got)) != case["thw"]
            or bucket.get_batch_size(got) != case["batch_size"]
        ):
            failures.append(f"{args}: thw {bucket.get_thw(got)} / bs {bucket.get_batch_size(got)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "config, named",
    [
        ({"999p": {1: (1.0, 4)}}, "999p"),
        ({"240p": {0: (1.0, 4)}}, "frame count 0"),
        ({"240p": {16: (1.5, 4)}}, r"bucket_config\['240p'\]\[16\]"),
        ({"240p": {16: ((1.0, 0.3, 2), 4)}}, "pair"),
        ({"240p": {16: (1.0, 0)}}, "batch_size 0"),
        ({"240p": {16: (0.5, None)}}, "None only with keep_prob 0"),
        ({"240p": {16: 4}}, r"\(keep_prob, batch_size\)"),
        ({}, "non-empty"),
    ],
)
def test_bad_bucket_config_names_the_entry(config, named):
    with pytest.raises(ConfigError, match=named):
        Bucket(config)


def test_explain_miss_gives_the_reason():
    bucket = Bucket({"240p": {16: (1.0, 2)}, "480p": {16: (0.0, None)}})
    assert "below 80%" in bucket.explain_miss(16, 10, 10)
    assert "no resolution" in bucket.explain_miss(1, 240, 426)
    assert "more than frames x frame_interval (16 x 2)" in bucket.explain_miss(30, 240, 426, 2)
    assert "keep_prob draws" in bucket.explain_miss(40, 480, 854)
