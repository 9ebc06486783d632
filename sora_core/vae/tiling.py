"""Spatial tiling with overlap and linear blending, so a VAE runs in bounded memory.

Tiles are measured in latent cells (one cell = `spatial_factor` pixels of the spatial VAE,
one position of the temporal VAE). A function that maps a `[..., H, W]` tensor to another
one of proportional size runs tile by tile; overlapping borders are cross-faded. A frame
that fits inside one tile goes through the function untouched, so untiled results are
bit-for-bit those of the reference.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import ConfigError


@dataclass(frozen=True)
class Tiling:
    """Square tiles of `tile_size` latent cells, neighbours sharing `overlap` cells."""

    tile_size: int
    overlap: int

    def __post_init__(self):
        if not isinstance(self.tile_size, int) or self.tile_size < 2:
            raise ConfigError(
                f"tile_size: {self.tile_size!r} latent cells; expected an integer >= 2"
            )
        if not isinstance(self.overlap, int) or not 0 <= self.overlap < self.tile_size:
            raise ConfigError(
                f"overlap: {self.overlap!r} latent cells; expected an integer in "
                f"[0, tile_size={self.tile_size})"
            )


def make_tiling(tile_size: "int | None", overlap: "int | None" = None) -> "Tiling | None":
    """A `Tiling`, or None (untiled) when `tile_size` is None; overlap defaults to a quarter."""
    if tile_size is None:
        return None
    return Tiling(tile_size, tile_size // 4 if overlap is None else overlap)


def tile_starts(cells: int, tile_size: int, overlap: int) -> list[int]:
    """Start cells of tiles covering `cells`; the last tile is moved back to end at the edge."""
    if cells <= tile_size:
        return [0]
    step = tile_size - overlap
    starts = list(range(0, cells - tile_size, step))
    starts.append(cells - tile_size)
    return starts


def _edge_weights(start: int, length: int, total: int, ramp: int) -> torch.Tensor:
    # Linear fade-in/out over `ramp` outputs on every side that meets a neighbouring tile.
    weights = torch.ones(length, dtype=torch.float32)
    fade = torch.arange(1, ramp + 1, dtype=torch.float32) / (ramp + 1)
    if ramp and start > 0:
        weights[:ramp] = fade
    if ramp and start + length < total:
        weights[-ramp:] = fade.flip(0)
    return weights


def map_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tiling: "Tiling | None",
    in_per_cell: int,
    out_per_cell: int,
) -> torch.Tensor:
    """Apply a spatially local `fn` over `x [..., cells·in, cells·in]` tile by tile and blend."""
    height, width = x.shape[-2] // in_per_cell, x.shape[-1] // in_per_cell
    if tiling is None or (height <= tiling.tile_size and width <= tiling.tile_size):
        return fn(x)
    size, overlap = tiling.tile_size, tiling.overlap
    output = weight_sum = None
    for top in tile_starts(height, size, overlap):
        tile_h = min(size, height)
        rows = _edge_weights(
            top * out_per_cell, tile_h * out_per_cell, height * out_per_cell, overlap * out_per_cell
        )
        for left in tile_starts(width, size, overlap):
            tile_w = min(size, width)
            tile = x[
                ...,
                top * in_per_cell : (top + tile_h) * in_per_cell,
                left * in_per_cell : (left + tile_w) * in_per_cell,
            ]
            result = fn(tile)
            if output is None:
                output = result.new_zeros(
                    (*result.shape[:-2], height * out_per_cell, width * out_per_cell)
                )
                weight_sum = torch.zeros(output.shape[-2:], dtype=torch.float32, device=x.device)
            cols = _edge_weights(
                left * out_per_cell,
                tile_w * out_per_cell,
                width * out_per_cell,
                overlap * out_per_cell,
            )
            weight = (rows[:, None] * cols[None, :]).to(x.device)
            out_rows = slice(top * out_per_cell, (top + tile_h) * out_per_cell)
            out_cols = slice(left * out_per_cell, (left + tile_w) * out_per_cell)
            output[..., out_rows, out_cols] += result * weight.to(result.dtype)
            weight_sum[out_rows, out_cols] += weight
    return output / weight_sum.to(output.dtype)


# Candidate tile sizes (latent cells) for the automatic choice, largest first.
AUTO_TILE_SIZES = (128, 96, 64, 48, 32, 24, 16)


def tiling_for_budget(
    bytes_for_tile: Callable[[int, int], int],
    latent_height: int,
    latent_width: int,
    budget_bytes: int,
) -> "Tiling | None":
    """The largest tiling whose estimated working memory fits `budget_bytes` (None: no tiling).

    `bytes_for_tile(h, w)` estimates the peak working memory of one `h x w`-cell tile.
    """
    if bytes_for_tile(latent_height, latent_width) <= budget_bytes:
        return None
    for size in AUTO_TILE_SIZES:
        if (
            size < max(latent_height, latent_width)
            and bytes_for_tile(min(size, latent_height), min(size, latent_width)) <= budget_bytes
        ):
            return make_tiling(size)
    smallest = AUTO_TILE_SIZES[-1]
    raise ConfigError(
        f"memory_budget: {budget_bytes} bytes is below the estimated "
        f"{bytes_for_tile(smallest, smallest)} bytes of the smallest tile ({smallest} latent "
        "cells); raise the budget or lower micro_batch_size"
    )
