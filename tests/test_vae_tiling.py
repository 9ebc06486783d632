"""Exact tiled VAE paths against the untiled path, chunking, and the memory-budget tiling."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from vae_helpers import tiny_sd_config, tiny_v12_config, tiny_vae, video

from sora_core.errors import ConfigError
from sora_core.models.layers import Conv2d, GroupNorm
from sora_core.vae.tiling import TiledRunner, Tiling, conv2d_op, tile_spans


def _smooth_video(batch: int, frames: int, height: int, width: int) -> torch.Tensor:
    coarse = video((batch, 3, frames, 4, 3), seed=2)
    return F.interpolate(coarse, size=(frames, height, width), mode="trilinear")


def _max_error(name: str, actual: torch.Tensor, expected: torch.Tensor) -> float:
    error = (actual - expected).abs()
    print(
        f"{name}: max {error.max().item():.2e} mean {error.mean().item():.2e} "
        f"(output max {expected.abs().max().item():.3f})"
    )
    return error.max().item()


def test_tile_spans_cover_the_frame_without_overlap():
    assert tile_spans(10, 16) == [(0, 10)]
    assert tile_spans(20, 8) == [(0, 8), (8, 16), (16, 20)]


def _pre(tile: torch.Tensor) -> torch.Tensor:
    # Pointwise and nonzero at 0, so zero padding must come after it, as in the modules.
    return torch.tanh(tile) + 1


_CONV = Conv2d(3, 5, 3, padding=1)
_STRIDED = Conv2d(3, 5, 3, stride=2)
_OPS = {
    "conv": (conv2d_op(_CONV), lambda x: _CONV(x)),
    "upsample-conv": (
        conv2d_op(_CONV, upsample=2),
        lambda x: _CONV(F.interpolate(x, scale_factor=2.0, mode="nearest")),
    ),
    # diffusers' VAE downsampler: pad right and bottom by one, stride-2 conv.
    "downsample-conv": (
        conv2d_op(_STRIDED, pad=(0, 1)),
        lambda x: _STRIDED(F.pad(x, (0, 1, 0, 1))),
    ),
}


@pytest.mark.parametrize("name", sorted(_OPS))
@pytest.mark.parametrize("tile_size", [2, 3, 5])
def test_tiled_convolutions_read_exact_halos(name, tile_size):
    op, untiled = _OPS[name]
    x = torch.randn(2, 3, 13, 11, generator=torch.Generator().manual_seed(tile_size))
    runner = TiledRunner(Tiling(tile_size), (13, 11), torch.device("cpu"))
    with torch.no_grad():
        expected = untiled(_pre(x))
        torch.testing.assert_close(runner.local(x, op, _pre), expected, atol=1e-6, rtol=1e-6)
        # A residual written in place over its own tensor.
        skip = torch.randn_like(expected)
        summed = runner.local(x, op, _pre, residual=(skip.clone(), None))
        in_place = skip.clone()
        assert runner.local(x, op, _pre, residual=(in_place, None), out=in_place) is in_place
        torch.testing.assert_close(in_place, skip + expected, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(summed, skip + expected, atol=1e-6, rtol=1e-6)


def test_group_norm_uses_whole_frame_statistics():
    norm = GroupNorm(2, 4)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(3, 4, 6, 9, 7) * torch.arange(1.0, 5.0).reshape(1, 4, 1, 1, 1) + 2
    runner = TiledRunner(Tiling(2), (9, 7), torch.device("cpu"))
    pre = runner.norm_act(x, norm, nn.SiLU())
    tile = x[..., 2:6, 3:5]
    torch.testing.assert_close(pre(tile), F.silu(norm(x))[..., 2:6, 3:5], atol=1e-6, rtol=1e-5)


def test_tiles_larger_than_the_frame_leave_results_bit_exact():
    vae = tiny_vae(tiny_v12_config(), seed=3)
    x = video((1, 3, 9, 32, 24), seed=1)
    with torch.no_grad():
        z = vae.encode(x, sample_posterior=False)
        decoded = vae.decode(z, num_frames=9)
        vae.set_tiling(tile_size=4)  # 4 x 3 latent cells: one tile
        assert torch.equal(vae.encode(x, sample_posterior=False), z)
        assert torch.equal(vae.decode(z, num_frames=9), decoded)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tiny_vae(tiny_v12_config(), seed=3),
        lambda: tiny_vae(tiny_sd_config(micro_batch_size=2), seed=4),
    ],
    ids=["v1.2", "sd"],
)
def test_tiled_paths_equal_untiled_up_to_round_off(make):
    vae = make()
    x = _smooth_video(2, 5, 64, 48)  # 8 x 6 latent cells, two videos
    frames = x.shape[2]
    with torch.no_grad():
        z = vae.encode(x, sample_posterior=False)
        decoded = vae.decode(z, num_frames=frames)
        # What "round-off" means here: the untiled fp32 result against fp64.
        exact = copy.deepcopy(vae).double()
        z64 = exact.encode(x.double(), sample_posterior=False)
        decoded64 = exact.decode(z.double(), num_frames=frames)
        fp32_z = _max_error(f"{vae.family} encode untiled fp32 vs fp64", z, z64)
        fp32_x = _max_error(f"{vae.family} decode untiled fp32 vs fp64", decoded, decoded64)
        for tile_size in (4, 3):  # even and uneven tilings of 8 x 6 cells
            vae.set_tiling(tile_size)
            tiled_z = vae.encode(x, sample_posterior=False)
            tiled_x = vae.decode(z, num_frames=frames)
            name = f"{vae.family} tile {tile_size}"
            assert _max_error(f"{name} encode seam error", tiled_z, z) < 1e-4
            assert _max_error(f"{name} decode seam error", tiled_x, decoded) < 1e-4
            assert _max_error(f"{name} encode vs fp64", tiled_z, z64) <= 2 * fp32_z + 1e-6
            assert _max_error(f"{name} decode vs fp64", tiled_x, decoded64) <= 2 * fp32_x + 1e-6


def test_tiling_keeps_the_noise_stream_of_the_untiled_encode():
    vae = tiny_vae(tiny_v12_config(), seed=3)
    x = _smooth_video(1, 17, 64, 64)
    draws = []

    def record(shape, device, dtype):
        draws.append(tuple(shape))
        return torch.zeros(shape, dtype=dtype)

    with torch.no_grad():
        vae.encode(x, noise=record)
        untiled = list(draws)
        draws.clear()
        vae.set_tiling(tile_size=4)
        vae.encode(x, noise=record)
    assert draws == untiled


def test_micro_batches_match_whole_batch_per_frame():
    chunked = tiny_vae(tiny_sd_config(micro_batch_size=2), seed=4)
    whole = tiny_vae(tiny_sd_config(), seed=4)
    x = video((2, 3, 3, 32, 24), seed=6)
    with torch.no_grad():
        z = chunked.encode(x, sample_posterior=False)
        torch.testing.assert_close(whole.encode(x, sample_posterior=False), z, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(whole.decode(z), chunked.decode(z), atol=1e-5, rtol=1e-5)


def test_micro_frame_chunks_are_encoded_independently():
    vae = tiny_vae(tiny_v12_config(), seed=3)
    x = video((1, 3, 51, 16, 16), seed=7)
    with torch.no_grad():
        z = vae.encode(x, sample_posterior=False)
        assert z.shape[2] == 15  # 3 chunks of 5, not ceil(51 / 4) = 13
        second = vae.encode(x[:, :, 17:34], sample_posterior=False)
        torch.testing.assert_close(z[:, :, 5:10], second, atol=1e-6, rtol=1e-5)
        decoded = vae.decode(z, num_frames=51)
        assert decoded.shape == x.shape
        torch.testing.assert_close(
            decoded[:, :, 17:34], vae.decode(second, num_frames=17), atol=1e-4, rtol=1e-4
        )


def test_memory_budget_picks_smaller_tiles_for_smaller_budgets():
    vae = tiny_vae(tiny_v12_config(), seed=3)
    height, width = 1024, 1024
    untiled_bytes = vae.estimate_decode_bytes(128, 128)
    smallest_bytes = vae.estimate_decode_bytes(128, 128, tile_size=8)
    # Exact tiles hold one frame's activations, not a micro-batch of four.
    assert smallest_bytes < untiled_bytes / 4
    assert vae.auto_tiling(height, width, untiled_bytes) is None
    sizes = []
    for fraction in (0.5, 0.2, 0.02):
        budget = int(smallest_bytes + fraction * (untiled_bytes - smallest_bytes))
        tiling = vae.auto_tiling(height, width, budget)
        assert vae.estimate_decode_bytes(128, 128, tile_size=tiling.tile_size) <= budget
        assert vae.spatial_vae.tiling == tiling
        sizes.append(tiling.tile_size)
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    with pytest.raises(ConfigError, match="memory_budget"):
        vae.auto_tiling(height, width, smallest_bytes - 1)


@pytest.mark.parametrize("tile_size", [1, 0, -3, 8.5])
def test_invalid_tilings_are_refused(tile_size):
    vae = tiny_vae(tiny_sd_config(), seed=4)
    with pytest.raises(ConfigError):
        vae.set_tiling(tile_size=tile_size)
