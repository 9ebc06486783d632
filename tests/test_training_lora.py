"""`lora = dict(...)` in a training config: only adapters train, no EMA copy is kept, and
every checkpoint folder holds the adapters alone (`lora.safetensors`), which `--lora` and
the LoRA node load and from which the run resumes bit for bit."""

import pytest
import torch
from training_helpers import tiny_config, write_config, write_table

from sora_core.checkpoints import load_transformer
from sora_core.cli import train_main
from sora_core.errors import CheckpointError
from sora_core.lora import read_lora
from sora_core.training.config import resolve_train_config
from sora_core.training.run import train
from sora_core.training.trainer import TrainingHooks

LORA = {"rank": 2, "alpha": 4, "targets": ["attn", "mlp"]}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_lora_run_checkpoints_hold_the_adapters_alone(tmp_path, one_thread):
    table = write_table(tmp_path / "data")
    config = write_config(tmp_path / "train.py", tiny_config(epochs=1, ckpt_every=2, lora=LORA))
    argv = [str(config), "--data-path", str(table), "--outputs", str(tmp_path / "out")]
    assert train_main(argv) == 0
    (exp_dir,) = (tmp_path / "out").iterdir()
    folders = sorted(p for p in exp_dir.iterdir() if p.is_dir())
    assert len(folders) >= 2
    for folder in folders:
        names = {p.name for p in folder.iterdir()}
        assert {"lora.safetensors", "optimizer.pt", "running_states.json"} <= names
        assert not names & {"model.safetensors", "ema.pt", "config.json"}, names

    adapters = read_lora(folders[-1])  # a checkpoint folder reads as its adapter
    assert adapters.config.rank == 2 and adapters.config.alpha == 4.0
    assert adapters.base["model_type"] == "STDiT3" and adapters.base["hidden_size"] == 32
    assert any(pair[1].abs().sum() > 0 for pair in adapters.layers.values())  # B moved from 0
    first = read_lora(folders[0] / "lora.safetensors")
    assert any(not torch.equal(first.layers[p][1], adapters.layers[p][1]) for p in first.layers)
    with pytest.raises(CheckpointError, match="LoRA training checkpoint.*--lora"):
        load_transformer(folders[-1])


def _settings(tmp_path, table, outputs: str, *extra: str) -> dict:
    config = write_config(
        tmp_path / "train.py", tiny_config(epochs=2, ckpt_every=0, lora=LORA, max_steps=7)
    )
    return resolve_train_config(
        [str(config), "--data-path", str(table), "--outputs", str(tmp_path / outputs), *extra]
    )


def test_a_stopped_lora_run_saves_and_resumes_to_the_same_adapter_bit_for_bit(tmp_path, one_thread):
    table = write_table(tmp_path / "data")
    seen = []
    whole = train(
        _settings(tmp_path, table, "whole"), TrainingHooks(on_step=lambda *a: seen.append(a))
    )
    assert whole.name.endswith("global_step7")  # max_steps ends the run inside epoch 1
    assert [step for step, _, _ in seen] == list(range(1, 8))
    assert all(total == 7 and (loss is None or loss > 0) for _, total, loss in seen)

    steps = []
    stopped = train(
        _settings(tmp_path, table, "stopped"),
        TrainingHooks(
            on_step=lambda step, *_: steps.append(step), should_stop=lambda: len(steps) >= 3
        ),
    )
    assert stopped.name == "epoch0-global_step3" and steps == [1, 2, 3]
    resumed = train(_settings(tmp_path, table, "stopped", "--load", str(stopped)))
    assert resumed.name == whole.name
    expected, actual = read_lora(whole), read_lora(resumed)
    for path, (lora_a, lora_b) in expected.layers.items():
        assert torch.equal(actual.layers[path][0], lora_a), path
        assert torch.equal(actual.layers[path][1], lora_b), path


def test_full_and_lora_checkpoints_do_not_resume_each_other(tmp_path, one_thread):
    table = write_table(tmp_path / "data")
    lora_run = train(_settings(tmp_path, table, "lora"))
    config = write_config(tmp_path / "full.py", tiny_config(epochs=1, max_steps=1))
    full = resolve_train_config(
        [str(config), "--data-path", str(table), "--outputs", str(tmp_path / "full")]
    )
    with pytest.raises(CheckpointError, match="LoRA run's checkpoint.*same lora"):
        train({**full, "load": str(lora_run)})
    full_run = train(full)
    with pytest.raises(CheckpointError, match="not a LoRA run's checkpoint"):
        train(_settings(tmp_path, table, "lora2", "--load", str(full_run)))


@pytest.mark.parametrize("base_dtype", ["bf16", "fp8"])
def test_base_dtype_keeps_the_frozen_base_low_and_the_adapters_fp32(tmp_path, base_dtype):
    from sora_core.lora import LoRALinear
    from sora_core.training.distributed import init_ranks
    from sora_core.training.models import build_training_models

    table = write_table(tmp_path / "data", pairs=1)
    settings = _settings(tmp_path, table, "out")
    models = build_training_models({**settings, "base_dtype": base_dtype}, init_ranks("cpu"), None)
    layers = [m for m in models.model.modules() if isinstance(m, LoRALinear)]
    stored = torch.bfloat16 if base_dtype == "bf16" else torch.float8_e4m3fn
    assert layers and all(layer.weight.dtype == stored for layer in layers)
    assert all(p.dtype == torch.float32 for p in models.lora.parameters())
    trainable = [p for p in models.model.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in models.lora.parameters()}
    # One step trains the adapters through the low-precision base.
    steps = []
    train(
        {**settings, "base_dtype": base_dtype, "max_steps": 1},
        TrainingHooks(on_step=lambda *step: steps.append(step)),
    )
    assert len(steps) == 1 and steps[0][2] is not None and steps[0][2] > 0


def test_base_dtype_needs_a_lora_run(tmp_path, capsys):
    config = write_config(tmp_path / "train.py", tiny_config(base_dtype="bf16"))
    assert train_main([str(config), "--data-path", str(tmp_path / "t.csv")]) == 2
    assert "base_dtype = 'bf16' needs lora" in capsys.readouterr().err


def test_bad_lora_settings_are_named_before_training(tmp_path, capsys):
    config = write_config(tmp_path / "train.py", tiny_config(lora={"rank": 0}))
    assert train_main([str(config), "--data-path", str(tmp_path / "t.csv")]) == 2
    assert "lora.rank" in capsys.readouterr().err


def test_max_steps_must_be_a_positive_integer(tmp_path, capsys):
    config = write_config(tmp_path / "train.py", tiny_config(max_steps=0))
    assert train_main([str(config), "--data-path", str(tmp_path / "t.csv")]) == 2
    assert "max_steps = 0" in capsys.readouterr().err
