"""What both video VAEs share: input checks, tiling settings and the latent format."""

import torch
from torch import nn

from ..dtypes import is_fp8
from ..errors import VideoShapeError
from .tiling import Tiling, make_tiling, tiling_for_budget

# Activations alive at once at a decoder's widest point (input, norm, conv output, residual).
LIVE_ACTIVATIONS = 4
# Full-frame activations an exactly tiled decode stores at its widest point (a segment's
# input and output; the residual sum is written in place), see `tiling.py`.
FRAME_ACTIVATIONS = 2


def decode_elements(
    peak_per_cell: int,
    cells: tuple[int, int],
    tile_size: "int | None",
    untiled_samples: int,
    tiled_samples: int,
) -> int:
    """Peak activation elements of a network whose widest layer holds `peak_per_cell`
    elements per latent cell and sample, over a `cells` frame: untiled (`untiled_samples`
    at once), or on exact `tile_size`-cell tiles (`tiled_samples` at once)."""
    area = cells[0] * cells[1]
    if tile_size is None or Tiling(tile_size).covers(*cells):
        return untiled_samples * LIVE_ACTIVATIONS * peak_per_cell * area
    # One tile's temporaries, its one-cell halo (what a 3x3 convolution reads) included.
    tile = min((tile_size + 2) ** 2, area)
    return tiled_samples * peak_per_cell * (FRAME_ACTIVATIONS * area + LIVE_ACTIVATIONS * tile)


class VideoVAE(nn.Module):
    """Base of the per-frame SD VAE and the 1.2 spatial+temporal VAE (`B, C, T, H, W` tensors).

    Subclasses set `family`, `spatial_factor`, `temporal_factor`, `in_channels`,
    `out_channels` and define `encode`, `decode`, `get_latent_size` and
    `estimate_decode_bytes(latent_height, latent_width, batch, frames, tile_size)`.
    """

    family: str
    # Every layer with weights casts them to the input's device and dtype when called
    # (`models.layers.CastOnUse`), so ComfyUI may load the VAE partially (`nodes.runtime.manage`).
    weights_cast_on_use = True
    spatial_factor: int = 8
    temporal_factor: int = 1
    in_channels: int = 3

    def __init__(self):
        super().__init__()
        self.tiling: Tiling | None = None
        self._latent_format = None

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The activations' dtype: the weights', bf16 when they are stored in fp8."""
        dtype = next(self.parameters()).dtype
        return torch.bfloat16 if is_fp8(dtype) else dtype

    def set_tiling(self, tile_size: "int | None" = None) -> None:
        """Run frames on exact `tile_size`-cell tiles (None: untiled)."""
        self.tiling = make_tiling(tile_size)

    def auto_tiling(
        self, height: int, width: int, memory_budget: int, batch: int = 1
    ) -> "Tiling | None":
        """Choose and set the largest tiling whose decode fits `memory_budget` bytes of activations."""
        self.check_pixel_size(height, width)
        latent_h, latent_w = height // self.spatial_factor, width // self.spatial_factor
        self.tiling = tiling_for_budget(
            lambda size: self.estimate_decode_bytes(latent_h, latent_w, batch, tile_size=size),
            latent_h,
            latent_w,
            memory_budget,
        )
        return self.tiling

    @property
    def latent_format(self):
        """Channels, factors and a latent-to-RGB preview map fitted on this VAE (cached)."""
        if self._latent_format is None:
            from .latent_format import fit_latent_format

            self._latent_format = fit_latent_format(self)
        return self._latent_format

    def check_pixel_size(self, height: int, width: int) -> None:
        """Raise `VideoShapeError` unless both sides are positive multiples of the spatial factor."""
        factor = self.spatial_factor
        for name, size in (("height", height), ("width", width)):
            if size < factor or size % factor:
                raise VideoShapeError(
                    f"{name}: {size} pixels; the VAE needs a positive multiple of {factor} "
                    f"(e.g. {max(factor, size // factor * factor)} or "
                    f"{(size // factor + 1) * factor})"
                )

    def check_video(self, video: torch.Tensor) -> None:
        """Validate a pixel video `(B, 3, T, H, W)` before encoding it."""
        if video.ndim != 5:
            raise VideoShapeError(
                f"video: shape {tuple(video.shape)}; expected 5 dims (B, {self.in_channels}, "
                "T, H, W) with values in [-1, 1]"
            )
        if video.shape[1] != self.in_channels:
            raise VideoShapeError(
                f"video: {video.shape[1]} channels in shape {tuple(video.shape)}; expected "
                f"{self.in_channels} (RGB) on dim 1 of (B, C, T, H, W)"
            )
        if video.shape[2] < 1:
            raise VideoShapeError("video: 0 frames; expected at least 1")
        self.check_pixel_size(video.shape[3], video.shape[4])

    def check_latent(self, latent: torch.Tensor) -> None:
        """Validate a latent `(B, C, T, h, w)` before decoding it."""
        if latent.ndim != 5 or latent.shape[1] != self.out_channels:
            raise VideoShapeError(
                f"latent: shape {tuple(latent.shape)}; expected (B, {self.out_channels}, T, h, w)"
            )
        if min(latent.shape[2:]) < 1:
            raise VideoShapeError(f"latent: shape {tuple(latent.shape)} has an empty dimension")
