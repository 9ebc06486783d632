"""Parity with the reference's VAE fixtures (`pipeline/vae_*`), fp32, atol = rtol = 1e-5.

Each fixture is recognised by its structure: a temporal-VAE case list (`kwargs`), a
pipeline case list (`pipeline_config`), or a key layout (`keys`, no cases).
"""

import pytest
import torch
from vae_helpers import replay

from golden import assert_close, pipeline_cases, read_json, read_tensors
from sora_core.checkpoints import build_vae
from sora_core.vae import OpenSoraVAE, TemporalVAE, VideoAutoencoderKL

TOL = {"atol": 1e-5, "rtol": 1e-5}


def _state(tensors: dict) -> dict:
    return {
        key.removeprefix("state."): value
        for key, value in tensors.items()
        if key.startswith("state.")
    }


def _noises(tensors: dict, case: dict) -> list:
    return [tensors[draw["key"]] for draw in case["sample_noise"]]


def _check_temporal(fixture: dict, tensors: dict) -> None:
    model = TemporalVAE(**fixture["kwargs"]).eval()
    model.load_state_dict(_state(tensors), strict=True)
    assert model.time_downsample_factor == fixture["time_downsample_factor"]
    for index, case in enumerate(fixture["cases"]):
        name = f"case{index}"
        x = tensors[f"{name}.x"]
        posterior = model.encode(x)
        assert_close(posterior.mean, tensors[f"{name}.posterior_mean"], **TOL, what=f"{name} mean")
        assert_close(
            posterior.logvar, tensors[f"{name}.posterior_logvar"], **TOL, what=f"{name} logvar"
        )
        draw = replay(_noises(tensors, case))
        assert_close(
            posterior.sample(draw), tensors[f"{name}.z_sample"], **TOL, what=f"{name} sample"
        )
        assert not draw.remaining
        assert (
            model.get_latent_size([x.shape[2], None, None])[0]
            == case["latent_frames_get_latent_size"]
        )
        decoded = model.decode(tensors[f"{name}.posterior_mean"], num_frames=x.shape[2])
        assert_close(decoded, tensors[f"{name}.decode_of_mean"], **TOL, what=f"{name} decode")


def _pipeline_from_fixture(fixture: dict) -> OpenSoraVAE:
    config = dict(fixture["pipeline_config"], type="VideoAutoencoderPipeline")
    spatial = {k: v for k, v in config["vae_2d"].items() if k != "from_pretrained"}
    config["vae_2d"] = dict(spatial, autoencoder=fixture["spatial_vae_config"])
    return build_vae(config)


def _check_pipeline(fixture: dict, tensors: dict) -> None:
    model = _pipeline_from_fixture(fixture)
    model.load_state_dict(_state(tensors), strict=True)
    for index, case in enumerate(fixture["cases"]):
        name = f"case{index}"
        x = tensors[f"{name}.x"]
        assert model.get_latent_size(list(case["input_shape"][2:])) == case["get_latent_size"]
        assert_close(
            model.spatial_vae.encode(x, sample_posterior=False),
            tensors[f"{name}.spatial_latent_mode"],
            **TOL,
            what=f"{name} spatial mean",
        )
        assert_close(
            model.encode(x, sample_posterior=False),
            tensors[f"{name}.z_mode"],
            **TOL,
            what=f"{name} z mean",
        )
        draw = replay(_noises(tensors, case))
        assert_close(
            model.encode(x, noise=draw),
            tensors[f"{name}.z_sample"],
            **TOL,
            what=f"{name} z sampled with the recorded noise",
        )
        assert not draw.remaining, "fewer noise draws than the reference"
        assert_close(
            model.decode(tensors[f"{name}.z_mode"], num_frames=x.shape[2]),
            tensors[f"{name}.decode_of_z_mode"],
            **TOL,
            what=f"{name} decode",
        )
        assert_close(
            model.spatial_vae.decode(tensors[f"{name}.spatial_latent_mode"]),
            tensors[f"{name}.spatial_decode_of_spatial_latent_mode"],
            **TOL,
            what=f"{name} spatial decode",
        )


def _check_layout(fixture: dict) -> None:
    # The full-size release architecture, built without memory, has exactly the release keys.
    with torch.device("meta"):
        model = build_vae(
            {"type": "OpenSoraVAE_V1_2", "micro_frame_size": 17, "micro_batch_size": 4}
        )
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    release = {key: list(shape) for key, shape in fixture["keys"]}
    assert sorted(set(release) - set(ours)) == [] and sorted(set(ours) - set(release)) == []
    assert ours == release
    counts = fixture["num_params"]
    spatial = sum(p.numel() for p in model.spatial_vae.parameters())
    temporal = sum(p.numel() for p in model.temporal_vae.parameters())
    assert (spatial, temporal) == (counts["spatial"], counts["temporal"])
    assert isinstance(model.spatial_vae, VideoAutoencoderKL)


@pytest.mark.parity
@pytest.mark.parametrize("name", pipeline_cases("vae_"))
def test_vae_fixture(name):
    fixture = read_json(f"pipeline/{name}.json")
    torch.manual_seed(0)
    with torch.no_grad():
        if "cases" in fixture and "kwargs" in fixture:
            _check_temporal(fixture, read_tensors(f"pipeline/{fixture['tensors_file']}"))
        elif "cases" in fixture and "pipeline_config" in fixture:
            _check_pipeline(fixture, read_tensors(f"pipeline/{fixture['tensors_file']}"))
        elif "keys" in fixture:
            _check_layout(fixture)
        else:
            pytest.fail(f"{name}: unrecognised VAE fixture structure {sorted(fixture)}")


@pytest.mark.parity
def test_get_latent_size_matches_reference_geometry():
    geometry = read_json("pipeline/geometry.json")["get_latent_size"]
    sd = build_vae(
        {
            "type": "VideoAutoencoderKL",
            "micro_batch_size": 4,
            "autoencoder": {
                "block_out_channels": [8, 8, 8, 8],
                "norm_num_groups": 4,
                "down_block_types": ["DownEncoderBlock2D"] * 4,
                "up_block_types": ["UpDecoderBlock2D"] * 4,
            },
        }
    )
    with torch.device("meta"):
        chunked = build_vae({"type": "OpenSoraVAE_V1_2"})
        whole = build_vae({"type": "OpenSoraVAE_V1_2", "micro_frame_size": None})
    assert len(geometry) > 0
    for row in geometry:
        size = row["input_size_THW"]
        assert sd.get_latent_size(size) == row["VideoAutoencoderKL"], size
        assert chunked.get_latent_size(size) == row["pipeline_micro_frame_size_17"], size
        assert whole.get_latent_size(size) == row["pipeline_micro_frame_size_None"], size
        assert chunked.temporal_vae.get_latent_size(size) == row["VAE_Temporal_alone"], size
