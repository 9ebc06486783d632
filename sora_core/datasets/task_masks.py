"""Open-Sora Plan v1.3's image-to-video training recipe, mapped onto STDiT's frame masks.

Plan trains its inpainting model with a `mask_config` YAML: `min_clear_ratio`,
`max_clear_ratio` and per-task ratios (normalised; all zero means uniform) for videos
(`t2iv`, `i2v`, `transition`, `continuation` (`v2v` in older code), `clear`,
`random_temporal`) and images (`t2iv`, `clear`). Here each task becomes an STDiT frame
mask over latent frames (False = clean condition frame, True = generated and in the loss):

- `t2iv`: all generated; `i2v`: the first frame is the condition; `transition`: the first
  and the last; `continuation`: the first `randint(int(T*min), int(T*max))`;
  `random_temporal`: that many frames chosen at random.
- STDiT's loss leaves condition frames out, so at least one frame stays generated
  (Plan noises every frame, so its all-condition cases still carry a loss). `clear` (every
  frame a condition) therefore has nothing to learn here and is refused for videos; a
  one-latent-frame sample (an image) is always generated, as in Open-Sora's own generator,
  and only consumes its draw.

`add_noise_to_condition` adds Plan's Gaussian noise (sigma = exp(N(-3, 0.5)), skipped for 5 %
of samples) to the condition frames; Plan adds it to pixels before encoding, here it is added
to the clean latents of the condition frames, the input STDiT takes for them.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError

VIDEO_TASKS = ("t2iv", "i2v", "transition", "continuation", "clear", "random_temporal")
IMAGE_TASKS = ("t2iv", "clear")
TASK_ALIASES = {"v2v": "continuation"}
# Plan's later spatial (inpainting / outpainting) tasks: no per-frame equivalent, so they
# are accepted only with ratio 0, as v1.3's own config leaves them.
SPATIAL_TASKS = (
    "semantic",
    "dilate",
    "bbox",
    "random_spatial",
    "outpaint_random_spatial",
    "outpaint_semantic",
    "outpaint_bbox",
    "i2v_outpaint_semantic",
)
SPATIAL_KEYS = ("dilate_kernel_size", "min_clear_ratio_hw", "max_clear_ratio_hw")
MASK_CONFIG_KEYS = (
    "min_clear_ratio",
    "max_clear_ratio",
    "mask_type_ratio_dict_video",
    "mask_type_ratio_dict_image",
)

DEFAULT_TEXTS = {
    "video": "The video showcases a scene with coherent and clear visuals.",
    "image": "The image showcases a scene with coherent and clear visuals.",
}


def normalize_task_ratios(
    ratios: Mapping, allowed: "tuple[str, ...]", where: str
) -> "dict[str, float]":
    """Plan's `type_ratio_normalize`: divide by the sum; all zero gives every task the same share."""
    if not isinstance(ratios, Mapping):
        raise ConfigError(f"{where} must be a mapping {{task: ratio}}, got {ratios!r}")
    normalized: dict[str, float] = {}
    for name, ratio in ratios.items():
        task = TASK_ALIASES.get(name, name)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio < 0:
            raise ConfigError(f"{where}[{name!r}] = {ratio!r} must be a non-negative number")
        if task in SPATIAL_TASKS:
            if ratio:
                raise ConfigError(
                    f"{where}[{name!r}] = {ratio}: spatial mask tasks have no per-frame "
                    f"equivalent in STDiT's frame masks; set it to 0"
                )
            continue
        if task not in allowed:
            raise ConfigError(f"{where} task {name!r} is not known; choose from {list(allowed)}")
        normalized[task] = float(ratio)
    if not normalized:
        raise ConfigError(f"{where} names no task; choose from {list(allowed)}")
    total = sum(normalized.values())
    if total == 0:
        return {task: 1.0 / len(normalized) for task in normalized}
    return {task: ratio / total for task, ratio in normalized.items()}


@dataclass(frozen=True)
class MaskConfig:
    """A checked `mask_config`: clear-ratio bounds and normalised task ratios."""

    min_clear_ratio: float
    max_clear_ratio: float
    video: "dict[str, float]"
    image: "dict[str, float]"


def read_mask_config(source: "str | Path | Mapping") -> MaskConfig:
    """A `mask_config` YAML file (or the same keys as a dict), checked key by key."""
    where = "mask_config"
    if not isinstance(source, Mapping):
        import yaml

        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"mask_config file {str(path)!r} does not exist")
        where = f"mask_config {str(path)!r}"
        try:
            source = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{where} is not valid YAML: {error}") from None
        if not isinstance(source, Mapping):
            raise ConfigError(f"{where} must hold a mapping of settings")
    unknown = sorted(set(source) - set(MASK_CONFIG_KEYS) - set(SPATIAL_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: key(s) {unknown} are not known; allowed: {list(MASK_CONFIG_KEYS)}"
        )
    low = _ratio(source.get("min_clear_ratio", 0.0), f"{where} min_clear_ratio")
    high = _ratio(source.get("max_clear_ratio", 1.0), f"{where} max_clear_ratio")
    if low >= high:
        raise ConfigError(f"{where}: min_clear_ratio {low} must be below max_clear_ratio {high}")
    video = normalize_task_ratios(
        source.get("mask_type_ratio_dict_video", {"random_temporal": 1.0}),
        VIDEO_TASKS,
        f"{where} mask_type_ratio_dict_video",
    )
    if video.get("clear"):
        raise ConfigError(
            f"{where} mask_type_ratio_dict_video: 'clear' makes every frame a condition, which "
            f"leaves STDiT's loss empty (condition frames are not in it); set it to 0"
        )
    image = normalize_task_ratios(
        source.get("mask_type_ratio_dict_image", {"t2iv": 1.0}),
        IMAGE_TASKS,
        f"{where} mask_type_ratio_dict_image",
    )
    return MaskConfig(low, high, video, image)


def _ratio(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{where} = {value!r} must be a number in [0, 1]")
    return float(value)


class TaskMaskGenerator:
    """Frame masks from Plan's task mix; the same interface as `MaskGenerator`."""

    def __init__(
        self, mask_config: "MaskConfig | str | Path | Mapping", rng: "random.Random | None" = None
    ):
        self.config = (
            mask_config if isinstance(mask_config, MaskConfig) else read_mask_config(mask_config)
        )
        self.rng = rng if rng is not None else random

    def pick_task(self, num_frames: int) -> str:
        """One draw (`random.choices` over the video or the image ratios, as Plan draws)."""
        ratios = self.config.video if num_frames > 1 else self.config.image
        return self.rng.choices(list(ratios), list(ratios.values()))[0]

    def _clear_count(self, num_frames: int) -> int:
        low = int(num_frames * self.config.min_clear_ratio)
        high = int(num_frames * self.config.max_clear_ratio)
        # At least one generated frame must remain for the loss.
        return min(self.rng.randint(low, high), num_frames - 1)

    def get_mask(self, x: torch.Tensor) -> torch.Tensor:
        """(T,) bool mask for one sample of latents x (B, C, T, H, W); True = generated."""
        num_frames = x.shape[2]
        task = self.pick_task(num_frames)
        mask = torch.ones(num_frames, dtype=torch.bool, device=x.device)
        if num_frames <= 1 or task == "t2iv":
            return mask
        if task == "i2v":
            mask[0] = False
        elif task == "transition":
            mask[0] = False
            mask[-1] = False
        elif task == "continuation":
            mask[: self._clear_count(num_frames)] = False
        elif task == "random_temporal":
            count = self._clear_count(num_frames)
            mask[self.rng.sample(range(num_frames), count)] = False
        return mask

    def get_masks(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.get_mask(x) for _ in range(len(x))])


@dataclass(frozen=True)
class DefaultText:
    """Plan's `default_text_ratio`: a dropped caption becomes a generic description.

    Plan drops a caption with probability `caption_dropout` (its `cfg`, 0.1) and then uses
    the default text with probability `default_text_ratio`, else the empty caption. The
    empty-caption share is left to the STDiT's own caption dropout (its learned null
    embedding), so only the default-text share, `caption_dropout * default_text_ratio`,
    is applied here.
    """

    default_text_ratio: float = 0.0
    caption_dropout: float = 0.1

    def __post_init__(self):
        _ratio(self.default_text_ratio, "default_text_ratio")
        _ratio(self.caption_dropout, "caption_dropout")

    def apply(self, text: str, is_video: bool, rng: random.Random) -> str:
        if not self.default_text_ratio:
            return text
        dropped = rng.random() < self.caption_dropout
        use_default = rng.random() < self.default_text_ratio
        if dropped and use_default:
            return DEFAULT_TEXTS["video" if is_video else "image"]
        return text


@dataclass(frozen=True)
class ConditionNoise:
    """Plan's `add_noise_to_condition` (`GaussianNoiseAdder(mean=-3, std=0.5, clear_ratio=0.05)`)."""

    mean: float = -3.0
    std: float = 0.5
    clear_ratio: float = 0.05

    def __call__(self, latent: torch.Tensor, mask: torch.Tensor, noise=None) -> torch.Tensor:
        """Latents (B, C, T, H, W) with noise added on the condition frames (mask False).

        `noise` draws per sample (`rand(shape, device)`, `randn(shape, device)`, row i for
        sample i); torch's global generator when omitted. Each sample is left clean with
        probability `clear_ratio`, else gets sigma = exp(N(mean, std)).
        """
        noise = noise or _GlobalNoise()
        batch = latent.shape[0]
        keep_clean = noise.rand((batch,), latent.device) < self.clear_ratio
        sigma = torch.exp(self.mean + self.std * noise.randn((batch,), latent.device))
        sigma = torch.where(keep_clean, torch.zeros_like(sigma), sigma)
        epsilon = noise.randn(tuple(latent.shape), latent.device).to(latent.dtype)
        condition = (~mask.bool()).to(latent.dtype)[:, None, :, None, None]
        return latent + epsilon * sigma.to(latent.dtype)[:, None, None, None, None] * condition


class _GlobalNoise:
    def rand(self, shape, device):
        return torch.rand(shape, device=device)

    def randn(self, shape, device):
        return torch.randn(shape, device=device)
