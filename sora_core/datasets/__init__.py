"""Training data: the CSV table, datasets, buckets, batch samplers and frame masks."""

from .bucket import Bucket
from .from_settings import (
    DATA_DEFAULTS,
    build_condition_noise,
    build_mask_generator,
    build_training_data,
)
from .loader import (
    SkipReport,
    TrainingLoader,
    build_dataset,
    collate_samples,
    prepare_dataloader,
)
from .masks import MASK_TYPES, MaskGenerator, normalize_mask_ratios
from .rows import SampleRow, read_rows
from .sampler import StatefulBatchSampler, VariableVideoBatchSampler
from .task_masks import ConditionNoise, DefaultText, TaskMaskGenerator, read_mask_config
from .video_text import SkippedSample, VariableVideoTextDataset, VideoTextDataset

__all__ = [
    "DATA_DEFAULTS",
    "ConditionNoise",
    "DefaultText",
    "TaskMaskGenerator",
    "build_condition_noise",
    "build_mask_generator",
    "build_training_data",
    "read_mask_config",
    "MASK_TYPES",
    "Bucket",
    "MaskGenerator",
    "SampleRow",
    "SkipReport",
    "SkippedSample",
    "StatefulBatchSampler",
    "TrainingLoader",
    "VariableVideoBatchSampler",
    "VariableVideoTextDataset",
    "VideoTextDataset",
    "build_dataset",
    "collate_samples",
    "normalize_mask_ratios",
    "prepare_dataloader",
    "read_rows",
]
