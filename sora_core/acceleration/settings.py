"""The acceleration choices of a run (`opensora-generate` flags, config keys, loader inputs)
and the one function that applies them to loaded models."""

from dataclasses import dataclass

from ..errors import ConfigError
from .step_cache import RECOMMENDED_THRESHOLD, StepCache


@dataclass(frozen=True)
class Acceleration:
    """`step_cache`: threshold or None (off); `compile`: compile each transformer block."""

    step_cache: "float | None" = None
    compile: bool = False

    @classmethod
    def from_config(cls, config: dict) -> "Acceleration":
        """From inference-config keys `step_cache` (True = the recommended threshold) and
        `compile`."""
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
        compile_blocks = config.get("compile") or False
        if not isinstance(compile_blocks, bool):
            raise ConfigError(f"compile: {compile_blocks!r}; expected True or False")
        return cls(
            step_cache=None if threshold is None else float(threshold), compile=compile_blocks
        )

    def make_step_cache(self) -> StepCache:
        """A fresh step cache (counting only when off)."""
        return StepCache(self.step_cache)


def apply_acceleration(models, acceleration: Acceleration):
    """Apply `acceleration` to `models` (a `pipeline.GenerationModels`): the step cache, then
    block compilation of the transformer. Returns `models`."""
    from .compile import compile_blocks

    models.step_cache = acceleration.make_step_cache()
    if acceleration.compile:
        compile_blocks(models.transformer)
    return models
