"""Open-Sora's training datasets: clips and images listed in a CSV, cropped to a bucket's size.

`VariableVideoTextDataset` (v1.1/v1.2) takes the sampler's "row-T-H-W" keys and crops each
file to that bucket; `VideoTextDataset` (v1.0) crops every file to one `num_frames` x
`image_size`. Videos are decoded with `av`, images with PIL; the transforms and frame
sampling are the reference's. A file that is missing, unreadable, undecodable or too short
yields a `SkippedSample` instead of a replacement, so no other sample (on this rank or
another) moves; `collate_samples` drops it from the batch and lists it under "skipped".

The crop start is drawn from a `random.Random` seeded by (seed, epoch, row): the same sample
gets the same frames on a rerun or a resume, with any number of loader workers.
"""

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ..conditioning.references import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    decode_video,
    read_image,
)
from ..conditioning.transforms import (
    TRANSFORM_NAMES,
    temporal_random_crop,
    transform_image,
    transform_video,
)
from ..errors import ConfigError, ReferenceMediaError, VideoShapeError
from ..geometry import IMG_FPS
from .rows import SampleRow, read_rows
from .sampler import parse_sample_key
from .task_masks import DefaultText

# The fps a video stream without a rate is given (the reference's default).
DEFAULT_VIDEO_FPS = 24


@dataclass(frozen=True)
class SkippedSample:
    """A sample that could not be loaded: its row, the reason, and the crop size it was for."""

    row: SampleRow
    reason: str
    num_frames: int
    height: int
    width: int

    def describe(self) -> str:
        return f"{self.row.describe()}: {self.reason}"


class VideoTextDataset(torch.utils.data.Dataset):
    """Every row cropped to `num_frames` x `image_size` (Open-Sora 1.0); images are repeated."""

    def __init__(
        self,
        data_path: "str | Path",
        num_frames: int = 16,
        frame_interval: int = 1,
        image_size: "tuple[int, int]" = (256, 256),
        transform_name: str = "center",
        seed: int = 0,
        default_text: "DefaultText | None" = None,
    ):
        _check_positive("frame_interval", frame_interval)
        _check_positive("num_frames", num_frames)
        if transform_name not in TRANSFORM_NAMES:
            raise ConfigError(
                f"dataset transform_name {transform_name!r} is not known; choose one of {TRANSFORM_NAMES}"
            )
        if transform_name == "center" and image_size[0] != image_size[1]:
            raise ConfigError(
                f"dataset transform_name 'center' crops squares; image_size {tuple(image_size)} "
                f"is not square (use 'resize_crop')"
            )
        self.data_path = str(data_path)
        self.rows = read_rows(data_path, require_sizes=self._needs_sizes())
        self.has_text = any(row.text is not None for row in self.rows)
        self.num_frames = num_frames
        self.frame_interval = frame_interval
        self.image_size = image_size
        self.transform_name = transform_name
        self.seed = seed
        self.default_text = default_text
        self.epoch = 0

    @staticmethod
    def _needs_sizes() -> bool:
        return False

    def set_epoch(self, epoch: int) -> None:
        """Frame crops depend on the epoch; set it before an epoch's loader is iterated."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> "dict | SkippedSample":
        height, width = self.image_size
        return self.load(index, self.num_frames, height, width, repeat_image=True)

    def load(
        self, index: int, num_frames: int, height: int, width: int, repeat_image: bool = False
    ) -> "dict | SkippedSample":
        """Row `index` as a sample cropped to (num_frames, height, width), or why it cannot be."""
        row = self.rows[index]
        try:
            video, fps = self._read(row, num_frames, (height, width))
        except (ReferenceMediaError, VideoShapeError) as error:
            return SkippedSample(row, str(error), num_frames, height, width)
        if repeat_image and video.shape[1] == 1:
            video = video.repeat(1, num_frames, 1, 1)
        sample = {
            "video": video,
            "num_frames": num_frames,
            "height": height,
            "width": width,
            "ar": height / width,
            "fps": float(fps),
            "index": row.index,
        }
        if self.has_text:
            sample["text"] = self._caption(
                row, is_video=Path(row.path).suffix.lower() in VIDEO_EXTENSIONS
            )
        return sample

    def _caption(self, row: SampleRow, is_video: bool) -> str:
        text = row.text or ""
        if self.default_text is None:
            return text
        rng = random.Random(f"{self.seed}/{self.epoch}/{row.index}/text")
        return self.default_text.apply(text, is_video, rng)

    def _read(self, row: SampleRow, num_frames: int, size: "tuple[int, int]"):
        """(3, T, H, W) in [-1, 1] and the fps condition for one row."""
        if row.problem:
            raise ReferenceMediaError(row.problem)
        extension = Path(row.path).suffix.lower()
        if extension not in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
            raise ReferenceMediaError(
                f"extension {extension!r} is neither a video {VIDEO_EXTENSIONS} nor an image "
                f"{IMAGE_EXTENSIONS}"
            )
        if not Path(row.path).is_file():
            raise ReferenceMediaError("the file does not exist")
        if extension in IMAGE_EXTENSIONS:
            image = read_image(row.path, what="image")
            return transform_image(image, size, self.transform_name)[:, None], IMG_FPS
        frames, fps = decode_video(row.path, what="video")
        rng = random.Random(f"{self.seed}/{self.epoch}/{row.index}/frames")
        chosen = temporal_random_crop(len(frames), num_frames, self.frame_interval, rng)
        video = transform_video(frames[chosen], size, self.transform_name)
        # The fps condition is the sampled frame rate (v1.2.0: source fps // frame_interval).
        return video.permute(1, 0, 2, 3), (fps or DEFAULT_VIDEO_FPS) // self.frame_interval


class VariableVideoTextDataset(VideoTextDataset):
    """Rows cropped to the bucket the sampler chose, given as "row-T-H-W" keys (v1.1/v1.2)."""

    def __init__(
        self,
        data_path: "str | Path",
        num_frames: "int | None" = None,
        frame_interval: int = 1,
        image_size: "tuple[int | None, int | None]" = (None, None),
        transform_name: str = "resize_crop",
        seed: int = 0,
        default_text: "DefaultText | None" = None,
    ):
        if transform_name == "center":
            raise ConfigError(
                "VariableVideoTextDataset crops every bucket to its own aspect ratio: "
                "transform_name must be 'resize_crop', not 'center'"
            )
        # num_frames and image_size are the bucket's; the reference keeps them as unused keys.
        super().__init__(data_path, 1, frame_interval, (1, 1), transform_name, seed, default_text)
        self.num_frames = num_frames
        self.image_size = image_size

    @staticmethod
    def _needs_sizes() -> bool:
        return True

    def __getitem__(self, key: str) -> "dict | SkippedSample":
        index, num_frames, height, width = parse_sample_key(key)
        return self.load(index, num_frames, height, width)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"dataset {name} {value!r} must be a positive integer")
