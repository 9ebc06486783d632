"""`opensora-search-bs`: Open-Sora's batch-size search per bucket (`scripts/misc/search_bs.py`).

The config is a training config whose `bucket_config` values are `(guess, range)`, plus
`base_step_time` (seconds) or `base = (resolution, num_frames)`. Each trial trains a few
steps on one bucket; the found batch sizes are printed as a table and written as a
training config (`--output`) whose `bucket_config` holds `(1.0, batch_size)`.
"""

import argparse
import pprint
from pathlib import Path

from ..bucket_search import StepTimer, format_table, search_batch_sizes, searched_bucket_config
from ..errors import ConfigError
from .config_files import load_config

PROGRAM = "opensora-search-bs"
SEARCH_KEYS = ("base", "base_step_time", "resolution")


def parse_flags(argv: "list[str] | None") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    parser.add_argument("config", help="training config with (guess, range) bucket_config values")
    parser.add_argument("--data-path", required=True, help="the training CSV")
    parser.add_argument("--resolution", help="search only this resolution's buckets (e.g. 240p)")
    parser.add_argument(
        "--output",
        default=None,
        help="where to write the resulting config (default: <config>_searched.py beside it)",
    )
    return parser.parse_args(argv)


def trainer_step_timer(settings: dict) -> StepTimer:
    """Seconds per training step on one bucket, from the trainer (5 warm-up, 5 timed steps)."""
    try:
        from ..training import step_timer
    except ImportError:
        raise ConfigError(
            "the batch-size search times real training steps, which needs the trainer "
            "(sora_core.training.step_timer); it is not part of this build"
        ) from None
    return step_timer(settings)


def write_config(config: dict, path: Path) -> Path:
    """A `.py` config of literals (readable by `load_config` and by Open-Sora's mmengine)."""
    lines = [f"# written by {PROGRAM}"]
    lines += [f"{key} = {pprint.pformat(value, sort_dicts=False)}" for key, value in config.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def search_bs(argv: "list[str] | None" = None, timer: "StepTimer | None" = None) -> int:
    flags = parse_flags(argv)
    config = load_config(flags.config)
    if "bucket_config" not in config:
        raise ConfigError(f"{flags.config}: a search config needs bucket_config")
    config.setdefault("dataset", {})["data_path"] = flags.data_path
    resolution = flags.resolution or config.get("resolution")
    timer = timer or trainer_step_timer(
        {key: value for key, value in config.items() if key not in SEARCH_KEYS}
    )
    results = search_batch_sizes(
        config["bucket_config"],
        timer,
        base_step_time=config.get("base_step_time"),
        base=config.get("base"),
        resolution=resolution,
    )
    print(format_table(results))
    training_config = {key: value for key, value in config.items() if key not in SEARCH_KEYS}
    training_config["bucket_config"] = searched_bucket_config(results)
    config_path = Path(flags.config)
    output = Path(flags.output or config_path.with_name(f"{config_path.stem}_searched.py"))
    print(f"wrote {write_config(training_config, output)}")
    return 0
