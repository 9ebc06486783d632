"""The data side of a training run, built from its checked settings.

The trainer's settings hold Open-Sora's keys (`dataset`, `bucket_config`, `batch_size`,
`num_workers`, `seed`, `mask_ratios`) and Open-Sora Plan v1.3's image-to-video recipe
(`mask_config`, `default_text_ratio`, `caption_dropout`, `add_noise_to_condition`);
`DATA_DEFAULTS` are the values of the recipe keys when a config leaves them out.
"""

from collections.abc import Mapping

from ..errors import ConfigError
from .loader import TrainingLoader, build_dataset, prepare_dataloader
from .masks import MaskGenerator
from .task_masks import ConditionNoise, DefaultText, TaskMaskGenerator

DATA_DEFAULTS: dict = {
    "mask_config": None,
    "default_text_ratio": 0.0,
    "caption_dropout": 0.1,
    "add_noise_to_condition": False,
}


def _setting(settings: Mapping, key: str):
    return settings.get(key, DATA_DEFAULTS.get(key))


def build_training_data(
    settings: Mapping,
    rank: int = 0,
    num_replicas: int = 1,
    shuffle: bool = True,
    drop_last: bool = True,
) -> TrainingLoader:
    """Dataset, sampler and loader for this rank (for training: shuffled, partial batches
    dropped; feature extraction keeps every batch in table order)."""
    default_text = None
    if _setting(settings, "default_text_ratio"):
        default_text = DefaultText(
            _setting(settings, "default_text_ratio"), _setting(settings, "caption_dropout")
        )
    seed = int(settings.get("seed", 1024))
    dataset = build_dataset(settings["dataset"], seed=seed, default_text=default_text)
    return prepare_dataloader(
        dataset,
        batch_size=settings.get("batch_size"),
        bucket_config=settings.get("bucket_config"),
        bucket_resolutions=settings.get("bucket_resolutions"),
        num_replicas=num_replicas,
        rank=rank,
        shuffle=shuffle,
        drop_last=drop_last,
        seed=seed,
        num_workers=int(settings.get("num_workers", 0)),
    )


def build_mask_generator(settings: Mapping) -> "MaskGenerator | TaskMaskGenerator | None":
    """Open-Sora's `mask_ratios` generator, Plan's `mask_config` one, or None (no masks)."""
    mask_ratios, mask_config = settings.get("mask_ratios"), _setting(settings, "mask_config")
    if mask_ratios is not None and mask_config is not None:
        raise ConfigError(
            "mask_ratios (Open-Sora's masks) and mask_config (Open-Sora Plan's tasks) both "
            "choose the frame masks; keep one"
        )
    if mask_config is not None:
        return TaskMaskGenerator(mask_config)
    if mask_ratios is not None:
        return MaskGenerator(mask_ratios)
    return None


def build_condition_noise(settings: Mapping) -> "ConditionNoise | None":
    """Plan's noise on condition frames when `add_noise_to_condition` is on."""
    enabled = _setting(settings, "add_noise_to_condition")
    if not isinstance(enabled, bool):
        raise ConfigError(f"add_noise_to_condition = {enabled!r} must be True or False")
    return ConditionNoise() if enabled else None
