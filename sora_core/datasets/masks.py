"""Open-Sora's training frame masks (`MaskGenerator`, v1.2 names and v1.1 aliases).

A mask is (B, T) bool over **latent** frames: True = the frame is generated (noised, in the
loss), False = a clean condition frame. Each sample draws its type from `mask_ratios` with
Python's `random` (a `random.Random` may be passed for a private stream); the `random` type
also draws `torch.rand(T)`.
"""

import math
import random
from collections.abc import Mapping

import torch

from ..errors import ConfigError, VideoShapeError

MASK_TYPES = (
    "identity",
    "quarter_random",
    "quarter_head",
    "quarter_tail",
    "quarter_head_tail",
    "image_random",
    "image_head",
    "image_tail",
    "image_head_tail",
    "random",
    "intepolate",  # sic: the reference's spelling, used by its configs
)
# Open-Sora 1.1 configs name the same masks with a "mask_" prefix and "no" for identity.
V11_ALIASES = {"mask_no": "identity", **{f"mask_{name}": name for name in MASK_TYPES[1:9]}}


def normalize_mask_ratios(mask_ratios: Mapping) -> "dict[str, float]":
    """Validated ratios, v1.1 names mapped, `identity` appended last with `1 - sum` if absent."""
    if not isinstance(mask_ratios, Mapping):
        raise ConfigError(f"mask_ratios must be a dict {{mask type: ratio}}, got {mask_ratios!r}")
    ratios: dict[str, float] = {}
    for name, ratio in mask_ratios.items():
        mask_type = V11_ALIASES.get(name, name)
        if mask_type not in MASK_TYPES:
            raise ConfigError(
                f"mask_ratios key {name!r} is not a mask type; choose from {list(MASK_TYPES)} "
                f"(or the v1.1 names {list(V11_ALIASES)})"
            )
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise ConfigError(f"mask_ratios[{name!r}] = {ratio!r} must be a number in [0, 1]")
        ratios[mask_type] = float(ratio)
    if "identity" not in ratios:
        ratios["identity"] = 1.0 - sum(ratios.values())
    total = sum(ratios.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6) or ratios["identity"] < -1e-6:
        raise ConfigError(f"mask_ratios must sum to 1 (identity included), they sum to {total:g}")
    return ratios


class MaskGenerator:
    """Per-sample frame masks drawn from `mask_ratios`, as the reference draws them."""

    def __init__(self, mask_ratios: Mapping, rng: "random.Random | None" = None):
        self.mask_ratios = normalize_mask_ratios(mask_ratios)
        # The module itself by default: the reference draws from Python's global stream.
        self.rng = rng if rng is not None else random

    def pick_type(self) -> "str | None":
        """One draw: the first type whose cumulative ratio exceeds it."""
        draw = self.rng.random()
        cumulative = 0.0
        for name, ratio in self.mask_ratios.items():
            cumulative += ratio
            if draw < cumulative:
                return name
        return None  # rounding left the draw above the total: no frame is conditioned

    def get_mask(self, x: torch.Tensor) -> torch.Tensor:
        """(T,) bool mask for one sample; T = x.shape[2], the latent frames of x (B, C, T, H, W)."""
        num_frames, device = x.shape[2], x.device
        mask_type = self.pick_type()
        mask = torch.ones(num_frames, dtype=torch.bool, device=device)
        if num_frames <= 1:
            return mask
        quarter = num_frames // 4
        if mask_type and mask_type.startswith("quarter_") and quarter < 1:
            raise VideoShapeError(
                f"mask type {mask_type!r} needs at least 4 latent frames (a quarter of them "
                f"becomes the condition), got {num_frames}; give it ratio 0 for such clips"
            )
        randint = self.rng.randint
        if mask_type == "quarter_random":
            size = randint(1, quarter)
            start = randint(0, num_frames - size)
            mask[start : start + size] = False
        elif mask_type == "image_random":
            mask[randint(0, num_frames - 1)] = False
        elif mask_type == "quarter_head":
            mask[: randint(1, quarter)] = False
        elif mask_type == "image_head":
            mask[:1] = False
        elif mask_type == "quarter_tail":
            mask[-randint(1, quarter) :] = False
        elif mask_type == "image_tail":
            mask[-1:] = False
        elif mask_type == "quarter_head_tail":
            size = randint(1, quarter)
            mask[:size] = False
            mask[-size:] = False
        elif mask_type == "image_head_tail":
            mask[:1] = False
            mask[-1:] = False
        elif mask_type == "intepolate":
            mask[randint(0, 1) :: 2] = False
        elif mask_type == "random":
            threshold = self.rng.uniform(0.1, 0.9)
            mask = torch.rand(num_frames, device=device) > threshold
            if not mask.any():
                mask[-1] = True
        return mask

    def get_masks(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) masks for latents x of shape (B, C, T, H, W), one draw per sample."""
        return torch.stack([self.get_mask(x) for _ in range(len(x))])
