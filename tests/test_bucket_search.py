"""Batch-size search on a stand-in step-time function with a known optimum per bucket:
time grows with the batch, batches above a memory limit raise out-of-memory."""

import pytest

from sora_core.bucket_search import binary_search, search_batch_sizes
from sora_core.cli import search_bs_main
from sora_core.cli.config_files import load_config
from sora_core.cli.search_bs import search_bs
from sora_core.errors import ConfigError

# Seconds per sample and the largest batch that fits, per (resolution, frames).
COST = {("144p", 51): 0.5, ("240p", 1): 0.02, ("240p", 51): 1.0, ("360p", 51): 2.5}
LIMIT = {("144p", 51): 30, ("240p", 1): 500, ("240p", 51): 12, ("360p", 51): 3}


class StandIn:
    def __init__(self):
        self.calls = []

    def __call__(self, resolution, num_frames, batch_size):
        self.calls.append((resolution, num_frames, batch_size))
        if batch_size > LIMIT[(resolution, num_frames)]:
            raise RuntimeError("CUDA out of memory (stand-in)")
        return 0.3 + COST[(resolution, num_frames)] * batch_size


def test_largest_batch_that_fits_without_target():
    assert binary_search(StandIn(), "240p", 51, 1, 40) == (12, 0.3 + 12.0)


def test_closest_below_target():
    # 144p/51: 0.3 + 0.5 b < 10.3 -> b < 20: 19 is closest below; 360p/51 is capped by memory.
    assert binary_search(StandIn(), "144p", 51, 1, 40, target=10.3) == (19, 0.3 + 9.5)
    assert binary_search(StandIn(), "360p", 51, 1, 40, target=10.3)[0] == 3


def test_no_data_gives_zero():
    assert binary_search(lambda *args: None, "240p", 51, 1, 8) == (0, 0.0)


SEARCH_CONFIG = """\
dataset = dict(type="VariableVideoTextDataset", transform_name="resize_crop")
base = ("240p", 51)
bucket_config = {
    "144p": {51: (20, 15)},
    "240p": {1: (300, 0), 51: (10, 8)},
    "360p": {51: (2, 2)},
}
lr = 1e-4
"""


def test_cli_searches_prints_and_writes_a_training_config(tmp_path, capsys):
    config = tmp_path / "bs.py"
    config.write_text(SEARCH_CONFIG)
    timer = StandIn()
    assert search_bs([str(config), "--data-path", "train.csv"], timer=timer) == 0
    assert timer.calls[0][:2] == ("240p", 51)  # the base bucket first
    table = capsys.readouterr().out
    assert "240p" in table and "12.300s" in table and "(kept)" in table
    written = load_config(tmp_path / "bs_searched.py")
    # base 240p/51: 12 fits (12.3 s); 144p/51 below 12.3 s -> 23 (11.8 s); 360p/51 -> 3 (OOM above)
    assert written["bucket_config"] == {
        "240p": {51: (1.0, 12), 1: (1.0, 300)},
        "144p": {51: (1.0, 23)},
        "360p": {51: (1.0, 3)},
    }
    assert written["lr"] == 1e-4 and "base" not in written
    assert written["dataset"]["data_path"] == "train.csv"


def test_cli_resolution_and_target_step_time(tmp_path):
    config = tmp_path / "bs.py"
    config.write_text(SEARCH_CONFIG.replace('base = ("240p", 51)', "base_step_time = 10.3"))
    output = tmp_path / "out.py"
    search_bs(
        [str(config), "--data-path", "x.csv", "--resolution", "144p", "--output", str(output)],
        timer=StandIn(),
    )
    assert load_config(output)["bucket_config"] == {"144p": {51: (1.0, 19)}}


@pytest.mark.parametrize(
    "change, named",
    [
        (('base = ("240p", 51)', ""), "base_step_time or base"),
        (('base = ("240p", 51)', 'base = ("720p", 51)'), "720p"),
        (("(10, 8)", "(10, -1)"), r"bucket_config\['240p'\]\[51\]"),
    ],
)
def test_bad_search_configs_name_the_key(tmp_path, change, named):
    config = tmp_path / "bs.py"
    config.write_text(SEARCH_CONFIG.replace(*change))
    with pytest.raises(ConfigError, match=named):
        search_bs([str(config), "--data-path", "x.csv"], timer=StandIn())


def test_unknown_resolution_is_named():
    with pytest.raises(ConfigError, match="'480p'"):
        search_batch_sizes({"240p": {51: (4, 2)}}, StandIn(), base_step_time=1.0, resolution="480p")


def test_console_entry_reports_errors_in_one_line(tmp_path, capsys):
    assert search_bs_main([str(tmp_path / "none.py"), "--data-path", "x.csv"]) == 2
    assert "opensora-search-bs: error:" in capsys.readouterr().err


def test_without_the_trainer_the_search_says_what_is_missing(tmp_path, monkeypatch):
    config = tmp_path / "bs.py"
    config.write_text(SEARCH_CONFIG)
    monkeypatch.setitem(__import__("sys").modules, "sora_core.training", None)
    with pytest.raises(ConfigError, match="needs the trainer"):
        search_bs([str(config), "--data-path", "x.csv"])


@pytest.mark.slow
def test_the_trainer_times_a_bucket(tmp_path):
    from training_helpers import tiny_config, write_table

    from sora_core.errors import DatasetError
    from sora_core.training import step_timer

    table = write_table(tmp_path)
    config = tiny_config()
    config["dataset"] = {**config["dataset"], "data_path": str(table)}
    timer = step_timer(config, warmup_steps=1, active_steps=1)
    assert timer("144p", 8, 2) > 0
    assert timer("144p", 51, 1) is None  # no clip is longer than 51 frames
    with pytest.raises(DatasetError, match="the timing needs 2"):
        timer("144p", 8, 6)  # six clips: one batch of six
