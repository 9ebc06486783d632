"""`lora = dict(...)` in a training config: only adapters train, and every checkpoint folder
holds a `lora.safetensors` that applies to the transformer it was trained on."""

import pytest
import torch
from safetensors.torch import load_file
from training_helpers import tiny_config, write_config, write_table

from sora_core.cli import train_main
from sora_core.lora import read_lora


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_lora_run_trains_adapters_only_and_writes_lora_safetensors(tmp_path, one_thread):
    table = write_table(tmp_path / "data")
    lora = {"rank": 2, "alpha": 4, "targets": ["attn", "mlp"]}
    config = write_config(tmp_path / "train.py", tiny_config(epochs=1, ckpt_every=2, lora=lora))
    argv = [str(config), "--data-path", str(table), "--outputs", str(tmp_path / "out")]
    assert train_main(argv) == 0
    (exp_dir,) = (tmp_path / "out").iterdir()
    folders = sorted(p for p in exp_dir.iterdir() if p.is_dir())
    assert len(folders) >= 2 and all((f / "lora.safetensors").is_file() for f in folders)

    first, last = (load_file(str(f / "model.safetensors")) for f in (folders[0], folders[-1]))
    base = [key for key in first if ".adapters." not in key]
    assert base and all(torch.equal(first[key], last[key]) for key in base)
    adapters = read_lora(folders[-1] / "lora.safetensors")
    assert adapters.config.rank == 2 and adapters.config.alpha == 4.0
    assert adapters.base["model_type"] == "STDiT3" and adapters.base["hidden_size"] == 32
    assert any(pair[1].abs().sum() > 0 for pair in adapters.layers.values())  # B moved from 0
    # The file's tensors are the adapters the checkpoint's model state holds.
    path, (lora_a, _) = next(iter(adapters.layers.items()))
    assert torch.equal(last[f"{path}.adapters.0.lora_A.weight"], lora_a)


def test_bad_lora_settings_are_named_before_training(tmp_path, capsys):
    config = write_config(tmp_path / "train.py", tiny_config(lora={"rank": 0}))
    assert train_main([str(config), "--data-path", str(tmp_path / "t.csv")]) == 2
    assert "lora.rank" in capsys.readouterr().err
