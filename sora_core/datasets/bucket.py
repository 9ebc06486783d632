"""Open-Sora's three-level bucket: (resolution, num_frames, aspect ratio).

`bucket_config = {resolution: {num_frames: (keep_prob, batch_size)}}`, where `keep_prob` may
be a pair `(keep_prob, frame_keep_prob)` (v1.2). Resolutions are the names of Open-Sora's
`ASPECT_RATIOS` table, or of a config's own `bucket_resolutions` table in the same form
(ours: small models train at sizes below 144p). A sample goes to the largest resolution it
covers (80 % of the pixel count) whose largest fitting frame bucket passes its keep draws;
the draws use NumPy's PCG64 seeded per (sample, bucket), so every rank and every rerun
assigns the same buckets.
"""

from collections.abc import Mapping

import numpy as np

from ..aspect_tables import ASPECT_RATIOS
from ..errors import ConfigError
from ..geometry import get_closest_ratio

# A sample counts for a resolution from 80 % of its pixel count on.
PIXEL_SLACK = 0.8

BucketId = tuple  # (resolution name, num_frames, aspect key)
KeepProb = "float | tuple[float, float]"


def _keep_prob(resolution: str, num_frames: int, value: object) -> "float | tuple[float, float]":
    where = f"bucket_config[{resolution!r}][{num_frames}]"
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(
                f"{where}: keep_prob {value!r} must be a number or a (keep_prob, frame_keep_prob) pair"
            )
        return (_probability(where, value[0]), _probability(where, value[1]))
    return _probability(where, value)


def _probability(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{where}: keep probability {value!r} must be a number in [0, 1]")
    return float(value)


def resolution_table(resolutions: object) -> "dict[str, tuple[int, dict[str, tuple[int, int]]]]":
    """A config's `bucket_resolutions`, checked: `{name: (pixels, {aspect key: (height,
    width)})}` as in `ASPECT_RATIOS`; aspect keys are height/width to two decimals."""
    if not isinstance(resolutions, Mapping) or not resolutions:
        raise ConfigError(
            "bucket_resolutions must be a non-empty dict {name: (pixels, {aspect: (height, "
            f"width)}}}} like ASPECT_RATIOS, got {resolutions!r}"
        )
    table = {}
    for name, entry in resolutions.items():
        where = f"bucket_resolutions[{name!r}]"
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise ConfigError(
                f"{where} must be (pixels, {{aspect: (height, width)}}), got {entry!r}"
            )
        pixels, sizes = entry
        if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
            raise ConfigError(f"{where}: pixels {pixels!r} must be a positive integer")
        if not isinstance(sizes, Mapping) or not sizes:
            raise ConfigError(f"{where}: aspects must be a non-empty dict, got {sizes!r}")
        checked = {}
        for aspect, size in sizes.items():
            valid = (
                isinstance(size, (list, tuple))
                and len(size) == 2
                and all(isinstance(side, int) and not isinstance(side, bool) for side in size)
                and min(size) >= 1
            )
            if not valid:
                raise ConfigError(
                    f"{where}[{aspect!r}]: {size!r} must be (height, width) in pixels"
                )
            if f"{size[0] / size[1]:.2f}" != str(aspect):
                raise ConfigError(
                    f"{where}[{aspect!r}]: the key must be height/width to two decimals, "
                    f"{size[0] / size[1]:.2f} for {tuple(size)}"
                )
            checked[str(aspect)] = (size[0], size[1])
        table[str(name)] = (pixels, checked)
    return table


def _never_kept(prob: "float | tuple[float, float]") -> bool:
    return (prob[0] if isinstance(prob, tuple) else prob) == 0


class Bucket:
    """The bucket table of one `bucket_config` and the reference's `get_bucket_id` walk."""

    def __init__(self, bucket_config: Mapping, resolutions: "Mapping | None" = None):
        table = ASPECT_RATIOS if resolutions is None else resolution_table(resolutions)
        if not isinstance(bucket_config, Mapping) or not bucket_config:
            raise ConfigError(
                "bucket_config must be a non-empty dict {resolution: {num_frames: "
                f"(keep_prob, batch_size)}}, got {bucket_config!r}"
            )
        unknown = [name for name in bucket_config if name not in table]
        if unknown:
            raise ConfigError(
                f"bucket_config resolution(s) {unknown} are not known; choose from {list(table)}"
            )
        self.resolutions = table
        # Largest resolution first, then longest clip first (stable for equal pixel counts).
        names = sorted(bucket_config, key=lambda name: table[name][0], reverse=True)
        self.probs: dict[str, dict[int, object]] = {}
        self.batch_sizes: dict[str, dict[int, int | None]] = {}
        self.bucket_id: dict[str, dict[int, int]] = {}
        self.hw_criteria = {name: table[name][0] for name in names}
        self.num_bucket = 0
        for name in names:
            frames = self._frame_entries(name, bucket_config[name])
            self.probs[name], self.batch_sizes[name], self.bucket_id[name] = {}, {}, {}
            for num_frames in sorted(frames, reverse=True):
                prob, batch_size = frames[num_frames]
                self.probs[name][num_frames] = prob
                self.batch_sizes[name][num_frames] = batch_size
                self.bucket_id[name][num_frames] = sum(map(len, self.bucket_id.values()))
                self.num_bucket += len(table[name][1])

    @staticmethod
    def _frame_entries(name: str, entries: object) -> "dict[int, tuple[object, int | None]]":
        if not isinstance(entries, Mapping) or not entries:
            raise ConfigError(
                f"bucket_config[{name!r}] must be a non-empty dict {{num_frames: (keep_prob, "
                f"batch_size)}}, got {entries!r}"
            )
        parsed = {}
        for key, value in entries.items():
            try:
                num_frames = int(key)
            except (TypeError, ValueError):
                num_frames = 0
            if num_frames < 1 or str(num_frames) != str(key).strip():
                raise ConfigError(
                    f"bucket_config[{name!r}]: frame count {key!r} must be a positive integer"
                )
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ConfigError(
                    f"bucket_config[{name!r}][{num_frames}] must be (keep_prob, batch_size), "
                    f"got {value!r}"
                )
            prob = _keep_prob(name, num_frames, value[0])
            batch_size = value[1]
            valid_size = isinstance(batch_size, int) and not isinstance(batch_size, bool)
            if not (valid_size and batch_size >= 1) and not (
                batch_size is None and _never_kept(prob)
            ):
                raise ConfigError(
                    f"bucket_config[{name!r}][{num_frames}]: batch_size {batch_size!r} must be a "
                    f"positive integer (None only with keep_prob 0)"
                )
            parsed[num_frames] = (prob, batch_size)
        return parsed

    def get_bucket_id(
        self, num_frames: int, height: int, width: int, frame_interval: int = 1, seed: int = 0
    ) -> "BucketId | None":
        """(resolution, frames, aspect key) for a sample, or None when every draw rejects it."""
        pixels = height * width
        for name, probs in self.probs.items():
            if pixels < self.hw_criteria[name] * PIXEL_SLACK:
                continue
            if num_frames == 1:
                if 1 not in probs:
                    continue
                rng = np.random.default_rng(seed + self.bucket_id[name][1])
                if rng.random() < probs[1]:
                    return self._with_aspect(name, 1, height, width)
                # A rejected image matches no video bucket below: on to the next resolution.
            chosen = None
            for frames, prob in probs.items():
                rng = np.random.default_rng(seed + self.bucket_id[name][frames])
                if isinstance(prob, tuple) and rng.random() > prob[1]:
                    continue
                if num_frames > frames * frame_interval and frames != 1:
                    chosen = frames
                    break
            if chosen is None:
                continue
            keep = prob[0] if isinstance(prob, tuple) else prob
            # The keep draw continues the frame bucket's generator, as in the reference.
            if keep >= 1 or rng.random() < keep:
                return self._with_aspect(name, chosen, height, width)
        return None

    def _with_aspect(self, name: str, num_frames: int, height: int, width: int) -> BucketId:
        return name, num_frames, get_closest_ratio(height, width, list(self.resolutions[name][1]))

    def get_thw(self, bucket: BucketId) -> "tuple[int, int, int]":
        """The (T, H, W) a bucket's samples are cropped to."""
        name, num_frames, aspect = bucket
        height, width = self.resolutions[name][1][aspect]
        return num_frames, height, width

    def get_batch_size(self, bucket: BucketId) -> "int | None":
        """The per-rank batch size of a bucket (its resolution and frame count decide)."""
        return self.batch_sizes[bucket[0]][bucket[1]]

    def get_prob(self, bucket: BucketId) -> object:
        return self.probs[bucket[0]][bucket[1]]

    def describe(self) -> str:
        """The buckets as `resolution: frames...` for error messages."""
        return "; ".join(
            f"{name} (>= {int(self.hw_criteria[name] * PIXEL_SLACK)} px): frames "
            + ", ".join(f"{frames} keep {prob}" for frames, prob in probs.items())
            for name, probs in self.probs.items()
        )

    def explain_miss(
        self, num_frames: int, height: int, width: int, frame_interval: int = 1
    ) -> str:
        """Why a sample that got no bucket missed them all (size, length or the keep draws)."""
        pixels = height * width
        large_enough = [
            name for name in self.probs if pixels >= self.hw_criteria[name] * PIXEL_SLACK
        ]
        if not large_enough:
            smallest = min(self.hw_criteria, key=self.hw_criteria.get)
            return (
                f"{height}x{width} = {pixels} px is below 80% of the smallest resolution "
                f"{smallest!r} ({self.hw_criteria[smallest]} px)"
            )
        if num_frames == 1:
            if not any(1 in self.probs[name] for name in large_enough):
                return f"an image, and no resolution in {large_enough} has a 1-frame bucket"
            return "an image whose keep_prob draws rejected every 1-frame bucket"
        fitting = [
            (name, frames)
            for name in large_enough
            for frames in self.probs[name]
            if frames != 1 and num_frames > frames * frame_interval
        ]
        if not fitting:
            shortest = min(
                (frames for name in large_enough for frames in self.probs[name] if frames != 1),
                default=None,
            )
            if shortest is None:
                return f"a video, and the resolutions {large_enough} have only 1-frame buckets"
            return (
                f"{num_frames} frames; a video needs more than frames x frame_interval "
                f"({shortest} x {frame_interval}) for the shortest bucket"
            )
        return f"the keep_prob draws rejected it in {fitting}"
