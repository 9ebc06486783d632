"""Exact resume: a run killed with SIGKILL and resumed with `--load` ends with the same
weights, bit for bit on the CPU, as the run that was never interrupted; a half-written
checkpoint is never taken as the latest."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import tiny_config, write_config, write_table

from sora_core.training.checkpoint import resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _command(config: Path, table: Path, outputs: Path, *extra: str) -> "list[str]":
    return [
        sys.executable,
        "-m",
        "sora_core.cli.train",
        str(config),
        "--data-path",
        str(table),
        "--outputs",
        str(outputs),
        *extra,
    ]


def _environment() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _final_weights(exp_dir: Path) -> "tuple[dict, dict]":
    last = resolve_checkpoint(exp_dir)
    return load_file(str(last / "model.safetensors")), torch.load(
        last / "ema.pt", weights_only=True
    )


def _assert_bitwise_equal(first: dict, second: dict, what: str) -> None:
    assert first.keys() == second.keys(), what
    for key in first:
        assert torch.equal(first[key], second[key]), f"{what}: {key} differs"


@pytest.mark.slow
def test_sigkilled_run_resumed_from_its_last_checkpoint_equals_the_uninterrupted_run(tmp_path):
    table = write_table(tmp_path)
    config = write_config(tmp_path / "train.py", tiny_config(epochs=2, ckpt_every=3, log_every=1))
    run = subprocess.run(
        _command(config, table, tmp_path / "whole"),
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    (whole_dir,) = (tmp_path / "whole").iterdir()

    killed = subprocess.Popen(
        _command(config, table, tmp_path / "killed"),
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    exp_dir = tmp_path / "killed" / "000-STDiT3"
    deadline = time.monotonic() + 600
    while not (exp_dir / "epoch0-global_step6" / "running_states.json").exists():
        assert killed.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (exp_dir / "epoch1-global_step14").exists(), "the run finished before the kill"

    # A crash mid-write leaves folders that must not count as the latest checkpoint.
    (exp_dir / "epoch1-global_step99").mkdir()
    (exp_dir / "epoch1-global_step99" / "ema.pt").write_bytes(b"half")
    (exp_dir / ".tmp-epoch1-global_step98").mkdir()
    assert resolve_checkpoint(exp_dir).name.startswith("epoch0-global_step")

    resumed = subprocess.run(
        _command(config, table, tmp_path / "killed", "--load", str(exp_dir)),
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout
    resumed_dir = tmp_path / "killed" / "001-STDiT3"
    model_a, ema_a = _final_weights(whole_dir)
    model_b, ema_b = _final_weights(resumed_dir)
    assert resolve_checkpoint(resumed_dir).name == resolve_checkpoint(whole_dir).name
    _assert_bitwise_equal(model_a, model_b, "model")
    _assert_bitwise_equal(ema_a, ema_b, "ema")


def test_an_unfinished_checkpoint_named_directly_is_refused(tmp_path):
    from sora_core.errors import CheckpointError

    (tmp_path / "epoch0-global_step5").mkdir()
    with pytest.raises(CheckpointError, match="unfinished"):
        resolve_checkpoint(tmp_path / "epoch0-global_step5")
    with pytest.raises(CheckpointError, match="no finished checkpoint"):
        resolve_checkpoint(tmp_path)
