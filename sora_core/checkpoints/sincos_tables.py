"""The trained size and scale read back from stored sin-cos position tables.

A 1D table `[T, C]` holds sin then cos of `position * ω_i` (channel 0 and `C/2` for ω = 1);
a 2D table `[S, C]` holds a 1D table of the column in its first half and of the row in its
second (MAE's layout), so channel 0 and `C/4` are sin and cos of the column coordinate.
"""

import math
from fractions import Fraction

import torch


def table_grid(table: torch.Tensor, hidden: int) -> tuple[int, int]:
    """`(rows, cols)` of a 2D table: the first token whose row sine is non-zero starts row 1."""
    tokens = table.shape[0]
    row_sine = table[:, hidden // 2].abs() > 1e-7
    cols = int(row_sine.nonzero()[0]) if row_sine.any() else tokens
    return tokens // cols, cols


def coordinate_scale(table: torch.Tensor, cos_channel: int, stretch: float = 1.0) -> float:
    """The `scale` of a table whose token-1 coordinate is `stretch / scale` (`stretch =
    base_size / cols` for PixArt), snapped to the simple fractions configs use (0.5, 2/3)."""
    if table.shape[0] < 2:
        return 1.0
    angle = math.atan2(float(table[1, 0]), float(table[1, cos_channel]))
    return float(Fraction(stretch / angle).limit_denominator(12))
