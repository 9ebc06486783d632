"""The acceleration choices of a run (`opensora-generate` flags, config keys, loader inputs)
and the one function that applies them to loaded models."""

from dataclasses import dataclass

from ..errors import ConfigError
from .step_cache import RECOMMENDED_THRESHOLD, StepCache

# `block_swap` value meaning "as many resident blocks as free device memory allows".
AUTO = "auto"


@dataclass(frozen=True)
class Acceleration:
    """`step_cache`: threshold or None (off); `compile`: compile each transformer block;
    `block_swap`: transformer blocks kept on the device (the rest streamed), `AUTO`, or None
    (off)."""

    step_cache: "float | None" = None
    compile: bool = False
    block_swap: "int | str | None" = None

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
            step_cache=None if threshold is None else float(threshold),
            compile=compile_blocks,
            block_swap=_block_swap(config.get("block_swap")),
        )

    def make_step_cache(self) -> StepCache:
        """A fresh step cache (counting only when off)."""
        return StepCache(self.step_cache)


def _block_swap(value) -> "int | str | None":
    if value is True or value == AUTO:
        return AUTO
    if value is None or value is False:
        return None
    if not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"block_swap: {value!r}; expected the number of transformer blocks to keep on "
            f"the device (0 or more), True or {AUTO!r} (from free memory), or None (off)"
        )
    return value


def apply_acceleration(models, acceleration: Acceleration):
    """Apply `acceleration` to `models` (a `pipeline.GenerationModels`): the step cache,
    block swap (on an accelerator; on the CPU the weights already are in CPU memory), then
    block compilation of the transformer. Returns `models`."""
    from .block_swap import BlockSwap
    from .compile import compile_blocks

    models.step_cache = acceleration.make_step_cache()
    swap = acceleration.block_swap
    if swap is not None and models.placement.device.type != "cpu":
        placement = models.placement
        resident = None if swap == AUTO else swap
        BlockSwap.install(models.transformer, resident, placement.device, placement.offload_device)
    if acceleration.compile:
        compile_blocks(models.transformer)
    return models
