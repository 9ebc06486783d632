"""Exact spatial tiling: a VAE runs layer by layer over disjoint tiles and matches the untiled
result up to float round-off.

Two things make a tile differ from the whole frame, and both are removed here:
- a convolution near a tile border sees the neighbouring tile: every tile is read with a
  halo of the convolution's receptive field (zero padding only at the frame border);
- GroupNorm normalises with statistics of the whole frame: they are computed over the
  stored full-frame input of each norm before any tile is normalised.

So the network runs one "segment" at a time (GroupNorm, activation, convolution and residual
add, up to the next GroupNorm), tile by tile, and only a segment's full-frame input, output
and skip tensor are stored; the large temporaries (normalised input, upsampled input,
convolution workspace) exist for one tile at a time. Tiles are measured in latent cells
(one cell = `spatial_factor` pixels of the spatial VAE, one position of the temporal VAE);
a frame that fits inside one tile runs the module itself, bit for bit the reference.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..models.layers import Conv2d, GroupNorm


@dataclass(frozen=True)
class Tiling:
    """Square tiles of `tile_size` latent cells; exact (each reads its receptive-field halo),
    so tiles never overlap."""

    tile_size: int

    def __post_init__(self):
        if not isinstance(self.tile_size, int) or self.tile_size < 2:
            raise ConfigError(
                f"tile_size: {self.tile_size!r} latent cells; expected an integer >= 2"
            )

    def covers(self, cells_h: int, cells_w: int) -> bool:
        """Whether a `cells_h x cells_w` frame fits in one tile (then nothing is tiled)."""
        return cells_h <= self.tile_size and cells_w <= self.tile_size


def make_tiling(tile_size: "int | None") -> "Tiling | None":
    """A `Tiling`, or None (untiled) when `tile_size` is None."""
    return None if tile_size is None else Tiling(tile_size)


def tile_spans(size: int, tile: int) -> list[tuple[int, int]]:
    """Disjoint `[start, stop)` spans of at most `tile` covering `size`."""
    return [(start, min(start + tile, size)) for start in range(0, size, tile)]


@dataclass(frozen=True)
class LocalOp:
    """A spatially local map and its window: `apply` gets a tile already zero-padded and
    (nearest-)upsampled, and returns the output tile (a convolution with padding 0)."""

    apply: Callable[[torch.Tensor], torch.Tensor]
    kernel: int = 1
    stride: int = 1
    pad_before: int = 0
    pad_after: int = 0
    upsample: int = 1

    def out_size(self, size: int) -> int:
        """Output length along one spatial axis for an input of `size`."""
        padded = size * self.upsample + self.pad_before + self.pad_after
        return (padded - self.kernel) // self.stride + 1

    def window(self, start: int, stop: int, size: int) -> tuple[slice, slice, tuple[int, int]]:
        """Input rows to read for output rows `[start, stop)`, the crop of the upsampled rows
        and the zero rows to add before and after (outside the frame)."""
        first = start * self.stride - self.pad_before
        last = (stop - 1) * self.stride + self.kernel - self.pad_before
        inside_first, inside_last = max(first, 0), min(last, size * self.upsample)
        rows = slice(inside_first // self.upsample, -(-inside_last // self.upsample))
        offset = rows.start * self.upsample
        crop = slice(inside_first - offset, inside_last - offset)
        return rows, crop, (inside_first - first, last - inside_last)


def conv2d_op(conv: Conv2d, upsample: int = 1, pad: "tuple[int, int] | None" = None) -> LocalOp:
    """A square zero-padded cast-on-use `Conv2d` (optionally after a x`upsample` nearest
    upsampling) as a `LocalOp`; `pad` overrides the conv's own padding (for asymmetric
    downsampling pads)."""
    if conv.padding_mode != "zeros" or conv.dilation != (1, 1) or conv.groups != 1:
        raise ConfigError(f"tiling: unsupported convolution {conv}; expected a plain Conv2d")
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    before, after = pad if pad is not None else (conv.padding[0], conv.padding[0])
    return LocalOp(
        lambda tile: F.conv2d(tile, *conv.cast_weights(tile), conv.stride),
        kernel,
        stride,
        before,
        after,
        upsample,
    )


def _upsample(tile: torch.Tensor, factor: int) -> torch.Tensor:
    # Nearest-neighbour upsampling of the two spatial axes (what F.interpolate "nearest" does).
    return tile.repeat_interleave(factor, -2).repeat_interleave(factor, -1)


class TiledRunner:
    """Runs network segments tile by tile over full-frame tensors kept on `storage`.

    `cells` is the frame's size in latent cells: a tensor of `H` rows is cut into tiles of
    `tile_size · H / cells_h` rows, so a tile covers the same part of the frame at every
    resolution of the network.
    """

    def __init__(
        self,
        tiling: Tiling,
        cells: tuple[int, int],
        device: torch.device,
        storage: "torch.device | None" = None,
    ):
        self.tiling, self.cells, self.device = tiling, cells, device
        self.storage = device if storage is None else storage

    def _spans(self, size: int, cells: int) -> list[tuple[int, int]]:
        return tile_spans(size, max(1, self.tiling.tile_size * size // cells))

    def local(
        self,
        x: torch.Tensor,
        op: LocalOp,
        pre: "Callable[[torch.Tensor], torch.Tensor] | None" = None,
        residual: "tuple[torch.Tensor, LocalOp | None] | None" = None,
        out: "torch.Tensor | None" = None,
    ) -> torch.Tensor:
        """`op(pre(x))` (+ the residual's op applied to its tensor), computed tile by tile.

        `pre` must be pointwise in space (norm, activation); it runs before zero padding,
        as in the module. `out` may be the residual tensor itself: each tile reads its
        residual before writing the same positions.
        """
        # x: (N, C, ..., H, W) -> (N, C', ..., H', W')
        height, width = x.shape[-2:]
        out_h, out_w = op.out_size(height), op.out_size(width)
        for top, bottom in self._spans(out_h, self.cells[0]):
            rows, row_crop, row_zeros = op.window(top, bottom, height)
            for left, right in self._spans(out_w, self.cells[1]):
                cols, col_crop, col_zeros = op.window(left, right, width)
                tile = x[..., rows, cols].to(self.device)
                if pre is not None:
                    tile = pre(tile)
                if op.upsample > 1:
                    tile = _upsample(tile, op.upsample)[..., row_crop, col_crop]
                result = op.apply(F.pad(tile, (*col_zeros, *row_zeros)))
                if residual is not None:
                    source, shortcut = residual
                    skip = source[..., top:bottom, left:right].to(self.device)
                    result = (skip if shortcut is None else shortcut.apply(skip)) + result
                if out is None:
                    out = result.new_empty((*result.shape[:-2], out_h, out_w), device=self.storage)
                out[..., top:bottom, left:right] = result
        return out

    def whole(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """`fn` on the whole frame (global layers at the lowest resolution, e.g. attention)."""
        return fn(x.to(self.device)).to(self.storage)

    def group_stats(self, x: torch.Tensor, groups: int, eps: float) -> tuple:
        """Per-sample, per-group mean and 1/std of `x` (N, C, ...) in fp32, one group at a time."""
        n, channels = x.shape[:2]
        width = channels // groups
        mean = torch.empty(n, groups, device=self.device)
        rstd = torch.empty(n, groups, device=self.device)
        for group in range(groups):
            part = x[:, group * width : (group + 1) * width].to(self.device, torch.float32)
            var, mean[:, group] = torch.var_mean(part.reshape(n, -1), dim=1, correction=0)
            rstd[:, group] = torch.rsqrt(var + eps)
        return mean, rstd

    def norm_act(
        self, x: torch.Tensor, norm: GroupNorm, activation: nn.Module
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """`activation(norm(tile))` with `norm`'s statistics taken over the whole of `x`."""
        mean, rstd = self.group_stats(x, norm.num_groups, norm.eps)
        groups = norm.num_groups

        def apply(tile: torch.Tensor) -> torch.Tensor:
            n, channels = tile.shape[:2]
            grouped = tile.float().reshape(n, groups, -1)
            normed = ((grouped - mean[..., None]) * rstd[..., None]).reshape(tile.shape)
            if norm.affine:
                shape = (1, channels) + (1,) * (tile.ndim - 2)
                weight, bias = norm.cast_weights(normed)
                normed = normed * weight.reshape(shape) + bias.reshape(shape)
            return activation(normed.to(tile.dtype))

        return apply

    def resnet(
        self,
        x: torch.Tensor,
        norms: tuple[GroupNorm, GroupNorm],
        convs: tuple[LocalOp, LocalOp],
        activation: nn.Module,
        shortcut: "LocalOp | None" = None,
    ) -> torch.Tensor:
        """`x (+ shortcut) + conv2(act(norm2(conv1(act(norm1(x))))))`, two tiled segments."""
        hidden = self.local(x, convs[0], self.norm_act(x, norms[0], activation))
        # Without a projection the sum is written over x, which is no longer needed.
        return self.local(
            hidden,
            convs[1],
            self.norm_act(hidden, norms[1], activation),
            residual=(x, shortcut),
            out=x if shortcut is None else None,
        )


# Candidate tile sizes (latent cells) for the automatic choice, largest first.
AUTO_TILE_SIZES = (128, 96, 64, 48, 32, 24, 16, 8)


def tiling_for_budget(
    decode_bytes: Callable[["int | None"], int],
    latent_height: int,
    latent_width: int,
    budget_bytes: int,
) -> "Tiling | None":
    """The largest tiling whose estimated decode memory fits `budget_bytes` (None: no tiling).

    `decode_bytes(tile_size)` estimates the peak memory of decoding with that tile size
    (None: untiled).
    """
    if decode_bytes(None) <= budget_bytes:
        return None
    for size in AUTO_TILE_SIZES:
        if size < max(latent_height, latent_width) and decode_bytes(size) <= budget_bytes:
            return make_tiling(size)
    smallest = AUTO_TILE_SIZES[-1]
    raise ConfigError(
        f"memory_budget: {budget_bytes} bytes is below the estimated {decode_bytes(smallest)} "
        f"bytes of tiled decoding with the smallest tile ({smallest} latent cells), most of it "
        f"full-frame activations of a {latent_height}x{latent_width}-cell frame; raise the "
        "budget or decode a smaller frame"
    )
