"""Per-bucket batch-size search (Open-Sora's `scripts/misc/search_bs.py`).

A search config's `bucket_config` holds `(guess, range)` per `(resolution, num_frames)`:
the batch size is searched in `[max(guess - range, 1), guess + range]`. Without a target
step time (`base_step_time`), the `base` bucket is searched first for the largest batch
that runs, and its step time becomes the target; every other bucket then gets the batch
whose step time stays below the target and comes closest to it. A failed step (out of
memory or any other error) counts as too large. Buckets with range 0 keep their guess.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import ConfigError
from .geometry import get_num_frames

logger = logging.getLogger(__name__)

# (resolution, num_frames, batch_size) -> seconds per step; raises when the step fails,
# returns None when the bucket has no data.
StepTimer = Callable[[str, int, int], "float | None"]


@dataclass(frozen=True)
class SearchResult:
    resolution: str
    num_frames: int
    batch_size: int
    step_time: float  # 0.0 when nothing ran (no data, or every batch failed)
    searched: bool


def search_bounds(bucket_config: Mapping) -> "dict[tuple[str, int], tuple[int, int]]":
    """(resolution, frames) -> (low, high) from `(guess, range)` entries."""
    bounds = {}
    for resolution, entries in bucket_config.items():
        if not isinstance(entries, Mapping):
            raise ConfigError(
                f"bucket_config[{resolution!r}] must map frame counts to (guess, range)"
            )
        for frames, value in entries.items():
            where = f"bucket_config[{resolution!r}][{frames!r}]"
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                or value[0] < 1
                or value[1] < 0
            ):
                raise ConfigError(
                    f"{where} = {value!r}: a search config gives (guess batch size >= 1, range >= 0)"
                )
            guess, spread = value
            bounds[(resolution, get_num_frames(frames))] = (max(guess - spread, 1), guess + spread)
    return bounds


def binary_search(
    timer: StepTimer,
    resolution: str,
    num_frames: int,
    low: int,
    high: int,
    target: "float | None" = None,
) -> "tuple[int, float]":
    """(batch size, step time): the largest that runs, or the one closest below `target`."""
    best_size, best_time, best_gap = 0, 0.0, float("inf")
    while low <= high:
        middle = (low + high) // 2
        try:
            step_time = timer(resolution, num_frames, middle)
        except Exception as error:  # out of memory, or anything else: too large
            logger.info("(%s, %s) batch %d failed: %s", resolution, num_frames, middle, error)
            high = middle - 1
            continue
        if step_time is None:  # the bucket has no data
            return 0, 0.0
        if target is None:
            best_size, best_time = middle, step_time
            low = middle + 1
        elif step_time < target:
            low = middle + 1
            if abs(step_time - target) < best_gap:
                best_size, best_time, best_gap = middle, step_time, abs(step_time - target)
        else:
            high = middle - 1
    return best_size, best_time


def search_batch_sizes(
    bucket_config: Mapping,
    timer: StepTimer,
    base_step_time: "float | None" = None,
    base: "tuple[str, int | str] | None" = None,
    resolution: "str | None" = None,
) -> "list[SearchResult]":
    """One result per bucket (only `resolution`'s when given), base bucket first."""
    bounds = search_bounds(bucket_config)
    if resolution is not None:
        if resolution not in bucket_config:
            raise ConfigError(
                f"--resolution {resolution!r} is not in bucket_config; it has {list(bucket_config)}"
            )
        bounds = {key: value for key, value in bounds.items() if key[0] == resolution}
    results = []
    if base_step_time is None:
        if base is None:
            raise ConfigError(
                "a search config needs base_step_time or base = (resolution, num_frames)"
            )
        base_key = (base[0], get_num_frames(base[1]))
        if base_key not in bounds:
            raise ConfigError(f"base {tuple(base)!r} is not a bucket of bucket_config")
        size, base_step_time = binary_search(timer, *base_key, *bounds.pop(base_key))
        if not size:
            raise ConfigError(f"the base bucket {base_key} ran with no batch size in its range")
        results.append(SearchResult(*base_key, size, base_step_time, True))
    for (name, frames), (low, high) in bounds.items():
        if low == high:
            results.append(SearchResult(name, frames, low, 0.0, False))
            continue
        size, step_time = binary_search(timer, name, frames, low, high, base_step_time)
        results.append(SearchResult(name, frames, size, step_time, True))
    return results


def format_table(results: "list[SearchResult]") -> str:
    lines = ["resolution  frames  batch_size  step_time"]
    for result in results:
        time = f"{result.step_time:.3f}s" if result.searched else "(kept)"
        lines.append(
            f"{result.resolution:<11} {result.num_frames:>6}  {result.batch_size:>10}  {time:>9}"
        )
    return "\n".join(lines)


def searched_bucket_config(results: "list[SearchResult]") -> dict:
    """A training `bucket_config` with the found batch sizes (keep_prob 1.0: tune it after).

    Buckets where no batch size ran are left out."""
    config: dict = {}
    for result in results:
        if result.batch_size:
            config.setdefault(result.resolution, {})[result.num_frames] = (1.0, result.batch_size)
    return config
