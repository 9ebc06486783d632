"""`torchrun --nproc_per_node 2` on the CPU (gloo), with DDP and with FSDP2: the same loss
curve and final weights as one process with the same global batch, and no sample twice in
an epoch.

Tolerance: every random draw is keyed by sample (`training.streams`), so the runs differ
only in float summation order (a batch of 4 against two batches of 2 whose gradients are
averaged): losses agree to 1e-4 relative and weights to 1e-4 absolute after 6 steps.
Caption dropout draws per rank, so it is off here (`class_dropout_prob = 0`). Some
parameters have a true gradient of zero here (temporal attention over one-frame images,
attention key biases), so their gradients are pure round-off; with the v1.2 configs'
`adam_eps = 1e-15` Adam would scale that round-off to full `lr` steps, so the test uses
Adam's usual 1e-8.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import tiny_config, write_config, write_table

from sora_core.datasets import build_training_data
from sora_core.training.checkpoint import resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]
GLOBAL_BATCH = 4


def _config(tmp_path: Path, name: str, per_rank: int, plugin: str) -> Path:
    model = dict(tiny_config()["model"], class_dropout_prob=0.0)
    config = tiny_config(
        bucket_config={"144p": {1: (1.0, per_rank)}},  # one image bucket: same global batches
        model=model,
        plugin=plugin,
        epochs=3,
        ckpt_every=0,
        adam_eps=1e-8,  # see the module docstring
    )
    return write_config(tmp_path / f"{name}.py", config)


def _train(tmp_path: Path, name: str, table: Path, processes: int, plugin: str) -> Path:
    config = _config(tmp_path, name, GLOBAL_BATCH // processes, plugin)
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
        ]
        if processes > 1
        else [sys.executable]
    )
    command = [
        *launcher,
        "-m",
        "sora_core.cli.train",
        str(config),
        "--data-path",
        str(table),
        "--outputs",
        str(tmp_path / name),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    (exp_dir,) = (tmp_path / name).iterdir()
    return exp_dir


def _losses(exp_dir: Path) -> "list[float]":
    lines = (exp_dir / "log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if "loss" in json.loads(line)]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_table(tmp_path_factory.mktemp("data"), pairs=8)


@pytest.fixture(scope="module")
def single(tmp_path_factory, table):
    return _train(tmp_path_factory.mktemp("single"), "single", table, 1, "ddp")


@pytest.mark.slow
@pytest.mark.parametrize("plugin", ["ddp", "fsdp"])
def test_two_processes_follow_the_single_process_loss_curve(tmp_path, table, single, plugin):
    double = _train(tmp_path, plugin, table, 2, plugin)
    expected, seen = _losses(single), _losses(double)
    assert len(seen) == len(expected) == 6
    assert seen == pytest.approx(expected, rel=1e-4)
    weights_one = load_file(str(resolve_checkpoint(single) / "model.safetensors"))
    weights_two = load_file(str(resolve_checkpoint(double) / "model.safetensors"))
    assert weights_one.keys() == weights_two.keys()
    for key, value in weights_one.items():
        torch.testing.assert_close(weights_two[key], value, rtol=0, atol=1e-4, msg=key)
    ema_two = torch.load(resolve_checkpoint(double) / "ema.pt", weights_only=True)
    assert ema_two.keys() == weights_two.keys()


@pytest.mark.slow
def test_ranks_never_share_a_sample_within_an_epoch(table):
    settings = tiny_config(bucket_config={"144p": {1: (1.0, 2), 8: ((1.0, 1.0), 1)}}, seed=3)
    settings["dataset"] = dict(settings["dataset"], data_path=str(table))
    for epoch in range(2):
        seen = []
        for rank in range(2):
            loader = build_training_data(settings, rank=rank, num_replicas=2)
            for batch in loader.batches(epoch):
                seen.extend(batch["index"] + [s.row.index for s in batch["skipped"]])
        assert len(seen) == len(set(seen)) > 0
