"""The `batch_sampler` fixture: bucket grouping, every rank's batches per epoch
(shuffle / drop_last / replicas) and resuming from a state dict; plus sharding and resume
properties the fixture implies (no sample on two ranks, another rank count on resume)."""

import pytest
from fixture_sections import section_entry, section_params

from golden import read_json
from sora_core.datasets import SampleRow, StatefulBatchSampler, VariableVideoBatchSampler
from sora_core.errors import DatasetError

CASES = section_params("batch_sampler", "cases")


def _rows() -> "list[SampleRow]":
    table = read_json("pipeline/batch_sampler.json")["dataset_rows_num_frames_height_width"]
    return [
        SampleRow(index, f"clip{index}.mp4", None, frames, height, width)
        for index, (frames, height, width) in enumerate(table)
    ]


def _sampler(case: dict, rank: int, num_replicas: "int | None" = None) -> VariableVideoBatchSampler:
    sampler = VariableVideoBatchSampler(
        _rows(),
        case["bucket_config"],
        num_replicas=num_replicas or case["num_replicas"],
        rank=rank,
        shuffle=case["shuffle"],
        seed=case["seed"],
        drop_last=case["drop_last"],
        frame_interval=case["frame_interval"],
    )
    sampler.set_epoch(case["epoch"])
    return sampler


@pytest.mark.parity
@pytest.mark.parametrize("index", CASES)
def test_group_by_bucket(index):
    case = section_entry("batch_sampler", "cases", index)
    groups = _sampler(case, 0).group_by_bucket()
    assert [[list(bucket), rows] for bucket, rows in groups.items()] == case["group_by_bucket"]


@pytest.mark.parity
@pytest.mark.parametrize("index", CASES)
def test_batches_per_rank_and_resume(index):
    case = section_entry("batch_sampler", "cases", index)
    for rank, recorded in case["per_rank"].items():
        sampler = _sampler(case, int(rank))
        assert len(sampler) == len(recorded["batches"])
        assert list(sampler) == recorded["batches"], f"rank {rank}"
        if recorded["resume"] is None:
            continue
        state = sampler.state_dict(case["resume_after"])
        assert state == recorded["resume"]["state_dict"]
        resumed = _sampler(case, int(rank))
        resumed.set_epoch(0)  # the state dict brings the epoch back
        resumed.load_state_dict(state)
        assert list(resumed) == recorded["resume"]["batches"], f"rank {rank} resumed"
        # A finished pass starts the next one from its beginning.
        assert list(resumed) == recorded["batches"]


@pytest.mark.parametrize("index", CASES)
def test_ranks_share_no_sample_with_drop_last(index):
    case = dict(section_entry("batch_sampler", "cases", index), drop_last=True)
    seen = [key for rank in range(3) for batch in _sampler(case, rank, 3) for key in batch]
    rows = [key.split("-")[0] for key in seen]
    assert rows and len(rows) == len(set(rows))


def test_resume_on_another_rank_count_gives_the_remaining_batches():
    case = section_entry("batch_sampler", "cases", 0)
    two = [list(_sampler(case, rank, 2)) for rank in range(2)]
    # After one step on two ranks, one rank replays the remaining accesses in order.
    state = _sampler(case, 0, 2).state_dict(1)
    single = _sampler(case, 0, 1)
    single.load_state_dict(state)
    remaining = [batch for step in zip(*(batches[1:] for batches in two)) for batch in step]
    # One rank keeps the odd access two ranks had to drop (drop_last): one more batch.
    assert list(single)[: len(remaining)] == remaining


def test_no_sample_in_any_bucket_names_buckets_and_reasons():
    rows = [
        SampleRow(0, "tiny.mp4", None, 40, 32, 32),
        SampleRow(1, "short.mp4", None, 4, 480, 854),
        SampleRow(
            2, "bad.mp4", None, None, 480, 854, problem="num_frames='x' is not a positive integer"
        ),
    ]
    sampler = VariableVideoBatchSampler(rows, {"240p": {16: (1.0, 2)}})
    with pytest.raises(DatasetError) as error:
        list(sampler)
    message = str(error.value)
    assert "240p" in message and "frames 16" in message
    assert "row 0 (tiny.mp4)" in message and "below 80%" in message
    assert "row 1 (short.mp4)" in message and "more than frames x frame_interval" in message
    assert "row 2 (bad.mp4)" in message and "num_frames='x'" in message


def test_fixed_batches_shard_and_resume():
    rows = [SampleRow(i, f"{i}.png", None, None, None, None) for i in range(10)]
    ranks = [StatefulBatchSampler(rows, 2, num_replicas=2, rank=r, seed=3) for r in range(2)]
    batches = [list(sampler) for sampler in ranks]
    flat = [index for rank in batches for batch in rank for index in batch]
    assert sorted(flat) == list(range(10))
    resumed = StatefulBatchSampler(rows, 2, num_replicas=2, rank=1, seed=3)
    resumed.load_state_dict(ranks[1].state_dict(2))
    assert list(resumed) == batches[1][2:]
