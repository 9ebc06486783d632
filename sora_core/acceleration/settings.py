"""The acceleration choices of a run (`opensora-generate` flags, config keys, loader inputs)
and the one function that applies them to loaded models."""

from dataclasses import dataclass

from ..errors import ConfigError
from .step_cache import RECOMMENDED_THRESHOLD, StepCache


@dataclass(frozen=True)
class Acceleration:
    """`step_cache`: threshold or None (off)."""

    step_cache: "float | None" = None

    @classmethod
    def from_config(cls, config: dict) -> "Acceleration":
        """From inference-config keys `step_cache` (True = the recommended threshold)."""
        threshold = config.get("step_cache")
        if threshold is True:
            threshold = RECOMMENDED_THRESHOLD
        if threshold is False:
            threshold = None
        if threshold is not None and not isinstance(threshold, (int, float)):
            raise ConfigError(
                f"step_cache: {threshold!r}; expected a threshold such as "
                f"{RECOMMENDED_THRESHOLD}, True (recommended) or None (off)"
            )
        return cls(step_cache=None if threshold is None else float(threshold))

    def make_step_cache(self) -> StepCache:
        """A fresh step cache (counting only when off)."""
        return StepCache(self.step_cache)


def apply_acceleration(models, acceleration: Acceleration):
    """Give `models` (a `pipeline.GenerationModels`) the run's step cache; returns `models`."""
    models.step_cache = acceleration.make_step_cache()
    return models
