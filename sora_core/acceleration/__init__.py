"""Ways to make a transformer run faster or in less memory without changing what it computes
(or, for step caching, within a measured tolerance): step caching, per-block compilation,
block swapping and sequence parallelism."""

from .settings import Acceleration, apply_acceleration
from .step_cache import RECOMMENDED_THRESHOLD, STDIT3_COEFFICIENTS, StepCache, calibrate

__all__ = [
    "RECOMMENDED_THRESHOLD",
    "STDIT3_COEFFICIENTS",
    "Acceleration",
    "StepCache",
    "apply_acceleration",
    "calibrate",
]
