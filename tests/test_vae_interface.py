"""The VAE interface other parts rely on: config dicts, shapes, errors, latent format."""

import pytest
import torch
from vae_helpers import TINY_TEMPORAL, tiny_sd_config, tiny_v12_config, tiny_vae, video

from sora_core.checkpoints import build_vae
from sora_core.errors import ConfigError, VideoShapeError
from sora_core.vae import LatentFormat, OpenSoraVAE, Tiling, VideoAutoencoderKL
from sora_core.vae.latent_format import fit_latent_format


@pytest.fixture(scope="module")
def release_v12():
    # Full-size architecture without memory: enough for every check that runs before compute.
    with torch.device("meta"):
        return build_vae(
            {"type": "OpenSoraVAE_V1_2", "micro_frame_size": 17, "micro_batch_size": 4}
        )


def test_open_sora_configs_build_each_family():
    with torch.device("meta"):
        v12 = build_vae(
            {
                "type": "OpenSoraVAE_V1_2",
                "micro_frame_size": 17,
                "micro_batch_size": 4,
                "from_pretrained": None,
            }
        )
        sd = build_vae(
            {
                "type": "VideoAutoencoderKL",
                "from_pretrained": "stabilityai/sd-vae-ft-ema",
                "micro_batch_size": 4,
            }
        )
    assert isinstance(v12, OpenSoraVAE) and v12.family == "v1.2" and v12.out_channels == 4
    assert v12.temporal_vae.config["filters"] == 128 and v12.micro_z_frame_size == 5
    assert v12.spatial_vae.micro_batch_size == 4
    assert isinstance(sd, VideoAutoencoderKL) and sd.family == "sd" and sd.out_channels == 4
    assert list(sd.module.config.block_out_channels) == [128, 256, 512, 512]
    assert sd.scaling_factor == 0.18215


@pytest.mark.parametrize(
    "config,unknown",
    [
        ({"type": "OpenSoraVAE_V1_2", "micro_frames": 17}, "micro_frames"),
        ({"type": "VideoAutoencoderKL", "scale": 0.2}, "scale"),
        (tiny_v12_config(vae_2d={"type": "VideoAutoencoderKL", "tiles": 2}), "tiles"),
        (tiny_v12_config(vae_temporal=dict(TINY_TEMPORAL, groups=2)), "groups"),
    ],
)
def test_unknown_keys_are_named(config, unknown):
    with pytest.raises(ConfigError, match=unknown):
        build_vae(config)


@pytest.mark.parametrize(
    "config,field",
    [
        ({"type": "STDiT3"}, "type"),
        ({"type": "OpenSoraVAE_V1_2", "cal_loss": True}, "cal_loss"),
        ({"type": "OpenSoraVAE_V1_2", "micro_frame_size": 0}, "micro_frame_size"),
        ({"type": "VideoAutoencoderKL", "micro_batch_size": -1}, "micro_batch_size"),
        (tiny_v12_config(scale=[1.0, 2.0]), "scale"),
        (tiny_v12_config(vae_temporal=dict(TINY_TEMPORAL, activation_fn="gelu")), "activation_fn"),
        (
            {"type": "VideoAutoencoderPipeline", "vae_2d": {"type": "VideoAutoencoderKL"}},
            "vae_temporal",
        ),
    ],
)
def test_invalid_configs_name_the_field(config, field):
    with pytest.raises(ConfigError, match=field):
        build_vae(config)


def test_config_options_reach_the_model():
    # tile_overlap is deprecated: older configs still load, and it changes nothing.
    vae = build_vae(tiny_v12_config(freeze_vae_2d=True, tile_size=8, tile_overlap=2))
    assert not any(p.requires_grad for p in vae.spatial_vae.parameters())
    assert all(p.requires_grad for p in vae.temporal_vae.parameters())
    assert vae.tiling == Tiling(8)
    assert vae.spatial_vae.tiling == vae.tiling


@pytest.mark.parametrize(
    "shape,message",
    [
        ((1, 4, 17, 64, 64), "expected 3"),
        ((1, 3, 17, 60, 64), "height: 60 pixels.*multiple of 8 .*56 or 64"),
        ((1, 3, 17, 64, 426), "width: 426"),
        ((3, 17, 64, 64), "5 dims"),
    ],
)
def test_bad_videos_are_refused_before_encoding(release_v12, shape, message):
    with pytest.raises(VideoShapeError, match=message):
        release_v12.encode(torch.zeros(shape, device="meta"))


def test_frame_count_the_latent_cannot_hold_is_refused(release_v12):
    z = torch.zeros(1, 4, 7, 8, 8, device="meta")
    with pytest.raises(VideoShapeError, match="valid counts are 22..25"):
        release_v12.decode(z, num_frames=30)
    with pytest.raises(VideoShapeError, match=r"\(B, 4, T, h, w\)"):
        release_v12.decode(torch.zeros(1, 16, 7, 8, 8, device="meta"), num_frames=22)


def test_per_frame_vae_refuses_a_different_frame_count():
    vae = tiny_vae(tiny_sd_config(), seed=1)
    with pytest.raises(VideoShapeError, match="decodes exactly 3 frames"):
        vae.decode(torch.zeros(1, 4, 3, 4, 4), num_frames=5)


@pytest.mark.parametrize("latent_frames,frames", [(1, 1), (2, 5), (5, 17), (7, 22), (15, 51)])
def test_default_frame_count_is_the_open_sora_count(latent_frames, frames):
    vae = tiny_vae(tiny_v12_config(), seed=1)
    with torch.no_grad():
        decoded = vae.decode(torch.zeros(1, 4, latent_frames, 2, 2))
    assert decoded.shape == (1, 3, frames, 16, 16)
    assert vae.get_latent_size([frames, 16, 16]) == [latent_frames, 2, 2]


def test_every_valid_frame_count_round_trips_its_shape():
    vae = tiny_vae(tiny_v12_config(), seed=1)
    with torch.no_grad():
        for frames in (1, 4, 16, 18, 34, 35):
            z = vae.encode(video((1, 3, frames, 16, 8)), sample_posterior=False)
            assert list(z.shape[2:]) == vae.get_latent_size([frames, 16, 8])
            assert vae.decode(z, num_frames=frames).shape[2] == frames


def test_seeded_encoding_is_reproducible_and_does_not_touch_the_global_stream():
    from sora_core.vae import generator_noise

    vae = tiny_vae(tiny_v12_config(), seed=1)
    x = video((1, 3, 5, 16, 16))
    with torch.no_grad():
        state = torch.get_rng_state()
        first = vae.encode(x, noise=generator_noise(torch.Generator().manual_seed(7)))
        assert torch.equal(torch.get_rng_state(), state)
        second = vae.encode(x, noise=generator_noise(torch.Generator().manual_seed(7)))
        default = vae.encode(x)
    assert torch.equal(first, second) and not torch.equal(first, default)


@pytest.mark.parametrize("config", [tiny_v12_config(), tiny_sd_config()], ids=["v1.2", "sd"])
def test_latent_format_is_fitted_on_the_loaded_vae(config):
    vae = tiny_vae(config, seed=1)
    state = torch.get_rng_state()
    fmt = vae.latent_format
    assert torch.equal(torch.get_rng_state(), state), "the fit must not consume random numbers"
    assert isinstance(fmt, LatentFormat) and fmt is vae.latent_format
    assert (fmt.channels, fmt.spatial_factor) == (4, 8)
    assert fmt.temporal_factor == (4 if vae.family == "v1.2" else 1)
    assert len(fmt.latent_rgb_factors) == 4 and len(fmt.latent_rgb_factors_bias) == 3
    other = tiny_vae(config, seed=2).latent_format
    assert other.latent_rgb_factors != fmt.latent_rgb_factors


class _LinearLatentVAE:
    """A stand-in VAE whose latent is a known affine map of each cell's mean colour."""

    family, spatial_factor, temporal_factor = "test", 8, 4
    device, dtype = torch.device("cpu"), torch.float32
    mixing = torch.tensor([[0.5, -1.0, 0.2, 0.3], [0.1, 0.4, -0.6, 0.9], [-0.3, 0.2, 0.8, -0.5]])
    offset = torch.tensor([0.1, -0.2, 0.3, 0.05])

    def encode(self, clips, sample_posterior=False):
        colour = torch.nn.functional.avg_pool2d(clips[:, :, 0], 8)  # (N, 3, h, w)
        latent = torch.einsum("nrhw,rc->nchw", colour, self.mixing) + self.offset.view(1, 4, 1, 1)
        frames = -(-clips.shape[2] // self.temporal_factor)
        return latent[:, :, None].expand(-1, -1, frames, -1, -1)


def test_latent_format_fit_recovers_a_known_linear_latent_space():
    fake = _LinearLatentVAE()
    fmt = fit_latent_format(fake)
    colours = torch.rand(5, 3, 1, 2, 2) * 1.6 - 0.8
    latent = torch.einsum("nrthw,rc->ncthw", colours, fake.mixing) + fake.offset.view(1, 4, 1, 1, 1)
    torch.testing.assert_close(fmt.to_rgb(latent), colours, atol=1e-4, rtol=1e-4)
    assert fmt.temporal_factor == 4 and fmt.channels == 4
