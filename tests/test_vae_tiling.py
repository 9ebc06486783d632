"""Tiled and chunked VAE paths against the untiled path, and the memory-budget tiling choice."""

import pytest
import torch
import torch.nn.functional as F
from vae_helpers import tiny_sd_config, tiny_v12_config, tiny_vae, video

from sora_core.errors import ConfigError
from sora_core.vae.tiling import Tiling, map_tiles, tile_starts


def _smooth_video(frames: int, height: int, width: int) -> torch.Tensor:
    coarse = video((1, 3, frames, 4, 3), seed=2)
    return F.interpolate(coarse, size=(frames, height, width), mode="trilinear")


def _seam_error(name: str, tiled: torch.Tensor, untiled: torch.Tensor) -> float:
    error = (tiled - untiled).abs()
    print(
        f"{name}: seam error max {error.max().item():.4f} mean {error.mean().item():.4f} "
        f"(output max {untiled.abs().max().item():.3f})"
    )
    return error.mean().item()


def test_tile_starts_cover_the_frame_and_end_at_the_edge():
    assert tile_starts(10, 16, 4) == [0]
    assert tile_starts(20, 8, 2) == [0, 6, 12]
    starts = tile_starts(21, 8, 2)
    assert starts[-1] == 13 and all(b - a <= 6 for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("in_per_cell,out_per_cell", [(1, 8), (8, 1), (1, 1)])
def test_map_tiles_blends_a_local_function_back_exactly(in_per_cell, out_per_cell):
    # A cell-wise function has no seams, so any tiling must reproduce it up to round-off.
    def cellwise(x):
        cells = F.avg_pool2d(x, in_per_cell) if in_per_cell > 1 else x
        return (
            (cells * 2 + 1).repeat_interleave(out_per_cell, -1).repeat_interleave(out_per_cell, -2)
        )

    x = torch.randn(2, 3, 13 * in_per_cell, 11 * in_per_cell)
    untiled = cellwise(x)
    for tiling in (Tiling(4, 1), Tiling(5, 2), Tiling(6, 0)):
        torch.testing.assert_close(
            map_tiles(cellwise, x, tiling, in_per_cell, out_per_cell), untiled, atol=1e-6, rtol=1e-6
        )


def test_tiles_larger_than_the_frame_leave_results_bit_exact():
    vae = tiny_vae(tiny_v12_config(), seed=3)
    x = video((1, 3, 9, 32, 24), seed=1)
    with torch.no_grad():
        z = vae.encode(x, sample_posterior=False)
        decoded = vae.decode(z, num_frames=9)
        vae.set_tiling(tile_size=4, overlap=1)  # 4 x 3 latent cells: one tile
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
def test_tiled_paths_against_untiled_and_overlap_reduces_seams(make):
    vae = make()
    x = _smooth_video(5, 128, 96)  # 16 x 12 latent cells
    frames = x.shape[2]
    with torch.no_grad():
        z = vae.encode(x, sample_posterior=False)
        decoded = vae.decode(z, num_frames=frames)
        errors = {}
        for overlap in (4, 0):
            vae.set_tiling(tile_size=8, overlap=overlap)
            tiled_z = vae.encode(x, sample_posterior=False)
            tiled_x = vae.decode(z, num_frames=frames)
            assert tiled_z.shape == z.shape and tiled_x.shape == decoded.shape
            assert torch.isfinite(tiled_x).all()
            errors[overlap] = (
                _seam_error(f"{vae.family} encode tile 8 overlap {overlap}", tiled_z, z),
                _seam_error(f"{vae.family} decode tile 8 overlap {overlap}", tiled_x, decoded),
            )
    assert errors[4][1] < errors[0][1], f"blended overlap should beat hard seams: {errors}"


def test_tiling_keeps_the_noise_stream_of_the_untiled_encode():
    vae = tiny_vae(tiny_v12_config(), seed=3)
    x = _smooth_video(17, 64, 64)
    draws = []

    def record(shape, device, dtype):
        draws.append(tuple(shape))
        return torch.zeros(shape, dtype=dtype)

    with torch.no_grad():
        vae.encode(x, noise=record)
        untiled = list(draws)
        draws.clear()
        vae.set_tiling(tile_size=4, overlap=1)
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
    assert vae.auto_tiling(height, width, untiled_bytes) is None
    sizes = []
    for budget in (untiled_bytes // 2, untiled_bytes // 8, untiled_bytes // 40):
        tiling = vae.auto_tiling(height, width, budget)
        assert vae.estimate_decode_bytes(tiling.tile_size, tiling.tile_size) <= budget
        assert vae.spatial_vae.tiling == tiling
        sizes.append(tiling.tile_size)
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    with pytest.raises(ConfigError, match="memory_budget"):
        vae.auto_tiling(height, width, 1000)


@pytest.mark.parametrize("tile_size,overlap", [(1, 0), (8, 8), (8, -1), (8.5, 2)])
def test_invalid_tilings_are_refused(tile_size, overlap):
    vae = tiny_vae(tiny_sd_config(), seed=4)
    with pytest.raises(ConfigError):
        vae.set_tiling(tile_size=tile_size, overlap=overlap)
