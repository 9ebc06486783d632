"""`opensora-train` end to end on a small table with the fixtures' tiny VAE and T5: the loss
goes down, bad rows are skipped and counted, checkpoints have the reference's layout and
load with `load_transformer`."""

import json
import logging

import pytest
import torch
from training_helpers import BAD_ROWS, tiny_config, write_config, write_table

from sora_core.checkpoints import load_transformer
from sora_core.cli import train_main


@pytest.fixture
def one_thread():
    # Tiny convolutions on a shared 2-core machine run far faster on one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_table(tmp_path_factory.mktemp("data"))


def _records(exp_dir):
    lines = (exp_dir / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_training_lowers_the_loss_skips_bad_rows_and_writes_loadable_checkpoints(
    tmp_path, table, one_thread, caplog
):
    config = write_config(
        tmp_path / "train.py", tiny_config(epochs=5, ckpt_every=10, keep_last_ckpts=2)
    )
    with caplog.at_level(logging.WARNING):
        code = train_main(
            [str(config), "--data-path", str(table), "--outputs", str(tmp_path / "out")]
        )
    assert code == 0
    (exp_dir,) = (tmp_path / "out").iterdir()
    assert exp_dir.name == "000-STDiT3"
    losses = [record["loss"] for record in _records(exp_dir)]
    assert len(losses) >= 30
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8
    summaries = [r.message for r in caplog.records if "sample(s) skipped" in r.message]
    assert len(summaries) == 5 and all(f"{BAD_ROWS} sample(s) skipped" in m for m in summaries)
    assert "missing.mp4" in summaries[0] and "corrupt.mp4" in summaries[0]

    checkpoints = sorted(p.name for p in exp_dir.iterdir() if p.is_dir())
    assert len(checkpoints) == 2  # keep_last_ckpts
    last = exp_dir / checkpoints[-1]
    assert {
        "model.safetensors",
        "config.json",
        "ema.pt",
        "optimizer.pt",
        "lr_scheduler.pt",
        "sampler.json",
        "running_states.json",
        "training_config.json",
    } <= {p.name for p in last.iterdir()}
    ema = load_transformer(last / "ema.pt")
    model = load_transformer(last)
    assert ema.config["hidden_size"] == model.config["hidden_size"] == 32
    assert not torch.equal(ema.x_embedder.proj.weight, model.x_embedder.proj.weight)
    # freeze_y_embedder: the caption projection never moved from its initial value
    first = load_transformer(exp_dir / checkpoints[0])
    assert torch.equal(first.y_embedder.y_proj.fc1.weight, model.y_embedder.y_proj.fc1.weight)


def test_a_short_run_logs_the_numbers_the_issue_lists(tmp_path, table, one_thread):
    config = write_config(tmp_path / "train.py", tiny_config(epochs=1, log_every=2))
    assert (
        train_main([str(config), "--data-path", str(table), "--outputs", str(tmp_path / "out")])
        == 0
    )
    (exp_dir,) = (tmp_path / "out").iterdir()
    record = _records(exp_dir)[0]
    assert {"loss", "lr", "step_time", "samples_per_s", "peak_memory_mb", "global_step"} <= set(
        record
    )
    assert record["global_step"] == 2
    # warm-up: the second step ran at 2/3 of the base rate and the third starts at the base
    assert record["lr"] == pytest.approx(1e-3)
    saved = json.loads((exp_dir / "config.txt").read_text())
    assert saved["dataset"]["data_path"] == str(table)


@pytest.mark.parametrize(
    "release",
    ["stdit3_hf", "stdit3_single.safetensors", "stdit3_ema.pt"],
    ids=["folder", "file", "ema"],
)
def test_ckpt_path_starts_from_released_weights(tmp_path, table, one_thread, release):
    from golden import fixtures_dir

    source = fixtures_dir() / "checkpoints" / release
    # lr 0: the weights written after training are the ones the run started from.
    config = tiny_config(model={"type": "STDiT3"}, lr=0.0, epochs=1, mask_ratios=None)
    path = write_config(tmp_path / "train.py", config)
    outputs = tmp_path / "out"
    assert (
        train_main(
            [
                str(path),
                "--data-path",
                str(table),
                "--outputs",
                str(outputs),
                "--ckpt-path",
                str(source),
            ]
        )
        == 0
    )
    (exp_dir,) = outputs.iterdir()
    trained = load_transformer(sorted(p for p in exp_dir.iterdir() if p.is_dir())[-1])
    released = load_transformer(source, config={"model_max_length": 16})
    for (name, value), (other, expected) in zip(
        trained.state_dict().items(), released.state_dict().items(), strict=True
    ):
        assert name == other
        assert torch.equal(value, expected.float()), name
