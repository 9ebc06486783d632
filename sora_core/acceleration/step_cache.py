"""Step caching (TeaCache): skip a transformer call whose input has barely changed.

Between neighbouring sampling steps the blocks' total residual (output tokens minus input
tokens) changes slowly. The first block's timestep-modulated input is a cheap probe of how
much it changed: its relative L1 distance to the previous call's probe, mapped through a
calibrated polynomial to an estimate of the residual's change, is accumulated call after
call; while the sum stays below `threshold` the call reuses the last computed residual
instead of running the blocks. The first and the last call of a run always compute.

`StepCache(threshold=None)` never skips and leaves the forward untouched; it still counts
the transformer calls and the sampling time (the summary `opensora-generate` prints).
"""

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError
from .thresholds import RECOMMENDED_THRESHOLD

# TeaCache's published fit for Open-Sora 1.2 (STDiT3-XL/2, real weights): relative L1 change
# of the modulated input -> relative L1 change of the output, highest power first.
STDIT3_COEFFICIENTS = (
    2.17546007e02,
    -1.18329252e02,
    2.68662585e01,
    -4.59364272e-02,
    4.84426240e-02,
)


def relative_l1(current: torch.Tensor, previous: torch.Tensor) -> float:
    """`mean|current - previous| / mean|previous|` as a Python float."""
    return float((current - previous).abs().mean() / previous.abs().mean().clamp_min(1e-12))


def calibrate(
    input_changes: Sequence[float], output_changes: Sequence[float], degree: int = 4
) -> tuple[float, ...]:
    """Least-squares polynomial (highest power first) from probe changes to output changes.

    Record the pairs with `StepCache(record=True)` over uncached runs (`cache.changes`)."""
    if len(input_changes) != len(output_changes) or len(input_changes) <= degree:
        raise ConfigError(
            f"step cache calibration: needs more than {degree} (input, output) pairs of equal "
            f"count; got {len(input_changes)} and {len(output_changes)}"
        )
    return tuple(float(c) for c in np.polyfit(input_changes, output_changes, degree))


@dataclass
class StepCache:
    """Skip transformer calls while the accumulated, rescaled input change stays small.

    `threshold` None (or 0) never skips. Counters cover the cache's whole life: `computed`
    `calls` to the transformer, `reused` of them answered from the cache (`computed` ran the
    blocks), `seconds` spent in sampling.
    `record=True` keeps `(input change, output change)` pairs for `calibrate`.
    """

    threshold: "float | None" = None
    coefficients: "tuple[float, ...]" = STDIT3_COEFFICIENTS
    record: bool = False
    calls: int = 0
    reused: int = 0
    seconds: float = 0.0
    changes: "list[tuple[float, float]]" = field(default_factory=list)

    def __post_init__(self):
        if self.threshold is not None and not 0 <= self.threshold < float("inf"):
            raise ConfigError(
                f"step cache threshold: {self.threshold}; expected a number >= 0: 0 never "
                f"skips, {RECOMMENDED_THRESHOLD} is recommended, larger skips more"
            )
        self._rescale = np.poly1d(self.coefficients)
        self._begin(None)

    @property
    def computed(self) -> int:
        """Transformer calls that ran the blocks (the others reused the cached residual)."""
        return self.calls - self.reused

    @property
    def active(self) -> bool:
        """Whether this cache may skip calls (or records calibration pairs)."""
        return bool(self.threshold) or self.record

    def _begin(self, total_calls: "int | None") -> None:
        self._total = total_calls
        self._index = 0
        self._probe: torch.Tensor | None = None
        self._residual: torch.Tensor | None = None
        self._output: torch.Tensor | None = None
        self._signature: torch.Tensor | None = None
        self._accumulated = 0.0

    @contextlib.contextmanager
    def session(self, model: torch.nn.Module, total_calls: "int | None" = None) -> Iterator[None]:
        """One sampling run of `model` (about `total_calls` forwards): timed and counted."""
        if self.active and not getattr(model, "step_cacheable", False):
            raise ConfigError(
                f"step cache: {type(model).__name__} does not support step caching; "
                "it needs an Open-Sora transformer (STDiT, STDiT2 or STDiT3)"
            )
        self._begin(total_calls)
        counter = None
        if isinstance(model, torch.nn.Module):
            counter = model.register_forward_pre_hook(self._count)
        if self.active:
            model.step_cache = self
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started
            if counter is not None:
                counter.remove()
            if self.active:
                model.step_cache = None
            self._begin(None)

    def _count(self, *_) -> None:
        self.calls += 1

    def _must_compute(self, probe: torch.Tensor, signature: "torch.Tensor | None") -> bool:
        first = self._index == 0 or self._probe is None or self._probe.shape != probe.shape
        last = self._total is not None and self._index >= self._total - 1
        changed_frames = not _same(signature, self._signature)
        if first or last or changed_frames:
            return True
        change = relative_l1(probe, self._probe)
        self._accumulated += max(float(self._rescale(change)), 0.0)
        return self._accumulated >= (self.threshold or 0.0)

    def run(
        self,
        tokens: torch.Tensor,
        probe: torch.Tensor,
        blocks: Callable[[torch.Tensor], torch.Tensor],
        signature: "torch.Tensor | None" = None,
    ) -> torch.Tensor:
        """`blocks(tokens)`, or `tokens` plus the cached residual when the probe barely moved.

        `probe` is the first block's modulated input; `signature` (the frame mask) must be
        unchanged for a call to be skipped."""
        compute = self._must_compute(probe, signature)
        previous_probe = self._probe
        self._probe, self._signature = probe, signature
        self._index += 1
        if not compute:
            self.reused += 1
            return tokens + self._residual
        self._accumulated = 0.0
        output = blocks(tokens)
        residual = output - tokens
        if self.record and previous_probe is not None and self._output is not None:
            self.changes.append(
                (relative_l1(probe, previous_probe), relative_l1(output, self._output))
            )
        self._residual, self._output = residual, output if self.record else None
        return output


def _same(a: "torch.Tensor | None", b: "torch.Tensor | None") -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(torch.equal(a, b))
