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


SMALL = {"64px": (4096, {"0.60": (48, 80), "1.00": (64, 64), "1.67": (80, 48)})}


def test_a_config_resolution_table_buckets_below_144p():
    bucket = Bucket({"64px": {1: (1.0, 64), 4: (1.0, 32), 8: (1.0, 16)}}, SMALL)
    assert bucket.get_bucket_id(12, 80, 48) == ("64px", 8, "1.67")
    assert bucket.get_thw(bucket.get_bucket_id(6, 48, 80)) == (4, 48, 80)
    assert bucket.get_thw(bucket.get_bucket_id(1, 64, 64)) == (1, 64, 64)
    # a clip must be longer than its frame bucket, as in the reference
    assert bucket.get_bucket_id(8, 64, 64)[1] == 4
    assert "below 80%" in bucket.explain_miss(12, 32, 32)
    with pytest.raises(ConfigError, match=r"'144p'.*choose from \['64px'\]"):
        Bucket({"144p": {1: (1.0, 4)}}, SMALL)


@pytest.mark.parametrize(
    "table, named",
    [
        ({}, "non-empty"),
        ({"64px": (4096,)}, r"bucket_resolutions\['64px'\] must be \(pixels"),
        ({"64px": (0, {"1.00": (64, 64)})}, "pixels 0"),
        ({"64px": (4096, {})}, "non-empty dict"),
        ({"64px": (4096, {"1.00": (64, 64.0)})}, r"\(height, width\) in pixels"),
        ({"64px": (4096, {"0.50": (64, 64)})}, "1.00 for \\(64, 64\\)"),
    ],
)
def test_bad_resolution_tables_name_the_entry(table, named):
    with pytest.raises(ConfigError, match=named):
        Bucket({"64px": {1: (1.0, 4)}}, table)
