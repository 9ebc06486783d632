"""Sequence-parallel inference on 2 CPU processes (torchrun, gloo): the forward and a
sampling run with the step cache equal the single-process ones to fp32 round-off, also
where the processes do not divide a frame's tokens (padded), a head count they do not
divide and other models are clear errors, and the command line writes once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sora_core.acceleration.sequence_parallel import (
    from_environment,
    local_device,
    world_size_from_environment,
)

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("sequence_parallel")
    out, samples = folder / "result.json", folder / "samples"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(TESTS / "sequence_parallel_worker.py"), str(out), str(samples),
    ]  # fmt: skip
    log = folder / "log.txt"
    with open(log, "w") as output:
        code = subprocess.run(command, env=env, stdout=output, stderr=output, timeout=600)
    assert code.returncode == 0, log.read_text()[-3000:]
    return {**json.loads(out.read_text()), "files": sorted(p.name for p in samples.iterdir())}


@pytest.mark.slow
def test_two_processes_give_the_single_process_forward(two_processes):
    assert two_processes["size"] == 2 and two_processes["backend"] == "gloo"
    assert two_processes["forward_x_mask_False"] <= 1e-5
    assert two_processes["forward_x_mask_True"] <= 1e-5
    # q, k, v there and the output back, in each of the 2 spatial blocks
    assert two_processes["exchanges_per_forward"] == 2 * 4


@pytest.mark.slow
def test_token_counts_the_processes_do_not_divide_are_padded_without_changing_outputs(
    two_processes,
):
    # 9 spatial tokens per frame over 2 processes: one zero token pads each frame.
    assert two_processes["odd_forward_x_mask_False"] <= 1e-5
    assert two_processes["odd_forward_x_mask_True"] <= 1e-5
    assert two_processes["padding_after_forward"] == 0


@pytest.mark.slow
def test_two_processes_sample_as_one(two_processes):
    assert two_processes["sample"] <= 1e-5
    assert 2 <= two_processes["sample_computed"] < 16  # the step cache skipped, in step


@pytest.mark.slow
def test_bad_head_counts_and_models_are_named(two_processes):
    assert "3 attention heads do not split over 2 processes" in two_processes["heads"]
    assert "STDiT2 does not support it" in two_processes["not_stdit3"]


@pytest.mark.slow
def test_the_command_line_writes_each_sample_once(two_processes):
    assert two_processes["cli"] == 0
    assert two_processes["files"] == ["sample_0000.png"]


def test_one_process_runs_without_a_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert world_size_from_environment() == 1
    assert from_environment(torch.device("cpu")) is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert local_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert local_device(torch.device("cpu")) == torch.device("cpu")
