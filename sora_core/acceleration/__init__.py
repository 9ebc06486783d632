"""Ways to make a transformer run faster or in less memory without changing what it computes
(or, for step caching, within a measured tolerance): step caching, per-block compilation,
block swapping and sequence parallelism."""

from importlib import import_module

from .thresholds import RECOMMENDED_THRESHOLD

# The rest imports torch; load it only when asked for (`opensora-generate --help` stays fast).
_LAZY = {
    "Acceleration": ".settings",
    "BlockSwap": ".block_swap",
    "apply_acceleration": ".settings",
    "STDIT3_COEFFICIENTS": ".step_cache",
    "StepCache": ".step_cache",
    "calibrate": ".step_cache",
}

__all__ = [
    "RECOMMENDED_THRESHOLD",
    "STDIT3_COEFFICIENTS",
    "Acceleration",
    "BlockSwap",
    "StepCache",
    "apply_acceleration",
    "calibrate",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
