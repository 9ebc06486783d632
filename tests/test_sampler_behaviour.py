"""Sampler behaviour beyond the fixtures: determinism, callbacks and interruption, guidance,
conditioning frames, and config errors."""

import pytest
import torch

from sora_core.errors import ConfigError
from sora_core.samplers import (
    GeneratorNoise,
    SamplerStep,
    TextConditioning,
    build_scheduler,
    combine_guidance,
    config_keys,
    space_timesteps,
)

SHAPE = (2, 4, 3, 2, 2)  # B, C, T, H, W
CONFIGS = {
    "rflow": {"type": "rflow", "num_sampling_steps": 4, "cfg_scale": 7.0},
    "rflow-transform": {
        "type": "rflow",
        "num_sampling_steps": 4,
        "use_timestep_transform": True,
        "use_discrete_timesteps": True,
    },
    "iddpm": {"type": "iddpm", "num_sampling_steps": 4, "cfg_scale": 7.0, "cfg_channel": 3},
    "dpm-solver": {"type": "dpm-solver", "num_sampling_steps": 4, "cfg_scale": 7.0},
}
SIZES = {
    "height": torch.tensor([240.0, 240.0]),
    "width": torch.tensor([426.0, 426.0]),
    "num_frames": torch.tensor([51.0, 51.0]),
}


class TinyModel:
    """A fixed random linear map of the latent and the mean caption; counts its calls."""

    def __init__(self):
        weights = torch.Generator().manual_seed(7)
        self.mix = torch.randn(8, 4, generator=weights) * 0.3
        self.caption = torch.randn(5, 8, generator=weights) * 0.3
        self.batches: list[int] = []

    def __call__(self, x, timestep, y, mask=None, x_mask=None, **_sizes):
        self.batches.append(x.shape[0])
        caption = (y[:, 0].mean(dim=1) @ self.caption)[:, :, None, None, None]
        scale = 1 - timestep.float()[:, None, None, None, None] / 2000
        output = torch.einsum("oc,nc...->no...", self.mix, x) * scale + caption
        # The second half plays a learned variance, which lives in [-1, 1].
        return torch.cat([output[:, :4], torch.tanh(output[:, 4:])], dim=1)


def _text() -> TextConditioning:
    captions = torch.Generator().manual_seed(3)
    return TextConditioning(
        y=torch.randn(2, 1, 6, 5, generator=captions),
        y_null=torch.randn(1, 1, 6, 5, generator=captions).repeat(2, 1, 1, 1),
        mask=torch.ones(2, 6, dtype=torch.int64),
    )


def _sample(name: str, seed: int, **options):
    sampler = build_scheduler(CONFIGS[name])
    noise = GeneratorNoise(seed=seed)
    latent = noise.randn(SHAPE, torch.device("cpu"))
    model = options.pop("model", TinyModel())
    return sampler.sample(model, latent, _text(), model_kwargs=SIZES, noise=noise, **options)


@pytest.mark.parametrize("name", CONFIGS)
def test_same_seed_gives_the_same_sample(name):
    assert torch.equal(_sample(name, seed=11), _sample(name, seed=11))


@pytest.mark.parametrize("name", CONFIGS)
def test_different_seeds_give_different_samples(name):
    assert not torch.allclose(_sample(name, seed=11), _sample(name, seed=12))


@pytest.mark.parametrize("name", CONFIGS)
def test_callback_reports_every_step_and_the_final_latent(name):
    steps: list[SamplerStep] = []
    sample = _sample(name, seed=5, callback=steps.append)
    assert [step.index for step in steps] == [0, 1, 2, 3]
    assert {step.total for step in steps} == {4}
    assert all(step.denoised.shape == SHAPE for step in steps)
    assert torch.equal(steps[-1].latent, sample)


@pytest.mark.parametrize("name", CONFIGS)
def test_exception_in_callback_stops_sampling_without_more_model_calls(name):
    class Interrupted(Exception):
        pass

    def interrupt_at_second_step(step: SamplerStep) -> None:
        if step.index == 1:
            raise Interrupted

    model = TinyModel()
    with pytest.raises(Interrupted):
        _sample(name, seed=5, model=model, callback=interrupt_at_second_step)
    assert len(model.batches) == 2


def test_guidance_scale_one_runs_only_the_conditional_batch():
    model = TinyModel()
    sampler = build_scheduler({"type": "rflow", "num_sampling_steps": 2, "cfg_scale": 1.0})
    sampler.sample(model, torch.randn(SHAPE), _text())
    assert model.batches == [2, 2]


def test_guidance_on_some_channels_keeps_the_others_conditional():
    cond, uncond = torch.ones(1, 4, 1), torch.zeros(1, 4, 1)
    guided = combine_guidance(cond, uncond, 7.0, channels=3)
    assert guided.flatten().tolist() == [7.0, 7.0, 7.0, 1.0]


def test_rflow_keeps_frames_with_edit_ratio_zero_exactly():
    latent = torch.randn(SHAPE)
    frame_mask = torch.tensor([[0.0, 1.0, 0.5], [1.0, 1.0, 1.0]])
    sampler = build_scheduler(CONFIGS["rflow"])
    sample = sampler.sample(TinyModel(), latent, _text(), frame_mask=frame_mask, noise=3)
    assert torch.equal(sample[0, :, 0], latent[0, :, 0])
    assert not torch.allclose(sample[0, :, 2], latent[0, :, 2])


def test_iddpm_respacing_keeps_evenly_spread_original_steps():
    assert space_timesteps(1000, "10") == [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]
    assert space_timesteps(1000, "ddim4") == [0, 250, 500, 750]
    sampler = build_scheduler({"type": "iddpm", "timestep_respacing": "ddim4"})
    assert sampler.schedule.timestep_map.tolist() == [0, 250, 500, 750]


def test_iddpm_schedule_dtype_follows_the_release():
    assert build_scheduler({"type": "iddpm", "num_sampling_steps": 5}).schedule.betas.dtype == (
        torch.float32
    )
    v10 = build_scheduler({"type": "iddpm", "num_sampling_steps": 5}, release="1.0")
    assert v10.schedule.betas.dtype == torch.float64
    assert v10.cfg_channel == 3


def test_text_conditioning_from_dict_names_missing_keys():
    with pytest.raises(ConfigError, match="y_null"):
        TextConditioning.from_mapping({"y": torch.zeros(1, 1, 2, 3)})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"type": "rflow", "num_sampling_step": 30}, "num_sampling_step"),
        ({"type": "ddim"}, "ddim"),
        ({"num_sampling_steps": 30}, "type"),
        ({"type": "iddpm", "num_sampling_steps": 10, "timestep_respacing": "10"}, "not both"),
        ({"type": "iddpm", "timestep_respacing": "ten"}, "ten"),
        ({"type": "iddpm", "timestep_respacing": "ddim7000"}, "ddim7000"),
        ({"type": "iddpm", "noise_schedule": "cosine"}, "cosine"),
        ({"type": "rflow", "sample_method": "gaussian"}, "gaussian"),
        (
            {"type": "rflow", "sample_method": "logit-normal", "use_discrete_timesteps": True},
            "discrete",
        ),
        ({"type": "dpm-solver"}, "num_sampling_steps"),
    ],
)
def test_bad_config_raises_config_error_naming_the_problem(config, message):
    with pytest.raises(ConfigError, match=message):
        build_scheduler(config)


def test_unknown_release_is_a_config_error():
    with pytest.raises(ConfigError, match="2.0"):
        build_scheduler({"type": "rflow"}, release="2.0")


def test_config_keys_are_open_soras_names():
    assert "use_timestep_transform" in config_keys("rflow")
    assert "cfg_channel" in config_keys("iddpm")
    assert "schedule_dtype" not in config_keys("iddpm")


def test_dpm_solver_rejects_a_conditioning_mask():
    sampler = build_scheduler(CONFIGS["dpm-solver"])
    with pytest.raises(ConfigError, match="mask"):
        sampler.sample(TinyModel(), torch.randn(SHAPE), _text(), frame_mask=torch.ones(2, 3))


def test_timestep_transform_without_video_sizes_names_them():
    sampler = build_scheduler({"type": "rflow", "use_timestep_transform": True})
    with pytest.raises(ConfigError, match="height"):
        sampler.sample(TinyModel(), torch.randn(SHAPE), _text())


class _ExponentialVelocity:
    """velocity = rate * z for every caption: the flow's exact end point is z * exp(rate)."""

    def __init__(self, rate: float):
        self.rate = rate
        self.calls = 0

    def __call__(self, x, timestep, y, **_kwargs):
        self.calls += 1
        return torch.cat([self.rate * x, torch.zeros_like(x)], dim=1)


def test_heun_follows_a_curved_flow_closer_than_euler_with_2n_minus_1_calls():
    latent = torch.randn(SHAPE)
    exact = latent * torch.exp(torch.tensor(-1.5))
    errors = {}
    for kind in ("rflow", "rflow-heun"):
        model = _ExponentialVelocity(-1.5)
        sampler = build_scheduler({"type": kind, "num_sampling_steps": 10})
        errors[kind] = (sampler.sample(model, latent, _text()) - exact).abs().max()
        assert model.calls == (10 if kind == "rflow" else 19)
    assert errors["rflow-heun"] < errors["rflow"] / 5


def test_heun_keeps_frames_with_edit_ratio_zero_exactly():
    latent = torch.randn(SHAPE)
    frame_mask = torch.tensor([[0.0, 1.0, 0.5], [1.0, 1.0, 1.0]])
    sampler = build_scheduler({"type": "rflow-heun", "num_sampling_steps": 4})
    sample = sampler.sample(TinyModel(), latent, _text(), frame_mask=frame_mask, noise=3)
    assert torch.equal(sample[0, :, 0], latent[0, :, 0])


def test_one_null_embedding_serves_every_prompt():
    text = _text()
    shared = TextConditioning(y=text.y, y_null=text.y_null[:1], mask=text.mask)
    sampler = build_scheduler(CONFIGS["rflow"])
    latent = torch.randn(SHAPE)
    assert torch.equal(
        sampler.sample(TinyModel(), latent, shared), sampler.sample(TinyModel(), latent, text)
    )


def test_text_conditioning_with_mismatched_shapes_is_a_config_error():
    with pytest.raises(ConfigError, match="y_null"):
        TextConditioning(y=torch.zeros(2, 1, 6, 5), y_null=torch.zeros(2, 1, 7, 5))


def test_iddpm_speed_is_refused_with_a_reason():
    with pytest.raises(ConfigError, match="training-only"):
        build_scheduler({"type": "iddpm-speed"})


def test_sampling_builds_no_autograd_graph():
    model = TinyModel()
    model.mix.requires_grad_(True)
    sample = build_scheduler(CONFIGS["rflow"]).sample(model, torch.randn(SHAPE), _text())
    assert not sample.requires_grad
