"""`build_scheduler`: a sampler from an Open-Sora scheduler config dict."""

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import ConfigError
from .dpm_solver import DPMSolver
from .iddpm import IDDPM
from .rflow import RectifiedFlow, RectifiedFlowHeun

RELEASES = ("1.0", "1.1", "1.2")

SCHEDULER_TYPES: dict[str, Callable[..., Any]] = {
    "rflow": RectifiedFlow,
    "iddpm": IDDPM,
    "dpm-solver": DPMSolver,
    # Extra samplers on the same interface; the reference ones above stay the defaults.
    "rflow-heun": RectifiedFlowHeun,
}

# Set by `release`, not by Open-Sora config files.
_INTERNAL_ARGUMENTS = {"schedule_dtype"}


def config_keys(scheduler_type: str) -> list[str]:
    """The config keys (besides "type") a scheduler type accepts."""
    parameters = inspect.signature(SCHEDULER_TYPES[scheduler_type]).parameters
    return [name for name in parameters if name not in _INTERNAL_ARGUMENTS]


def build_scheduler(config: Mapping[str, Any], *, release: str = "1.2") -> Any:
    """A sampler from a config such as `{"type": "rflow", "num_sampling_steps": 30, "cfg_scale": 7.0}`.

    `release="1.0"` gives that release's IDDPM: a float64 schedule and guidance on
    the first 3 latent channels unless `cfg_channel` says otherwise.
    """
    if release not in RELEASES:
        raise ConfigError(f"release={release!r}; accepted: {', '.join(RELEASES)}")
    options = dict(config)
    scheduler_type = options.pop("type", None)
    if scheduler_type == "iddpm-speed":
        raise ConfigError(
            "scheduler type='iddpm-speed' (SpeeDiffusion) is training-only and broken in "
            "Open-Sora 1.2 (its loss call misplaces t); use 'iddpm' or 'rflow'"
        )
    if scheduler_type not in SCHEDULER_TYPES:
        raise ConfigError(
            f"scheduler type={scheduler_type!r}; accepted: {', '.join(SCHEDULER_TYPES)}"
        )
    accepted = config_keys(scheduler_type)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"scheduler {scheduler_type!r}: unknown config keys {unknown}; accepted: {accepted}"
        )
    if scheduler_type == "iddpm" and release == "1.0":
        options.setdefault("cfg_channel", 3)
        options["schedule_dtype"] = torch.float64
    try:
        return SCHEDULER_TYPES[scheduler_type](**options)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"scheduler {scheduler_type!r}: bad config value: {error}") from None
