"""Step caching (TeaCache): off and threshold 0 change nothing, a threshold skips counted
calls on every STDiT version, the first and last call always run, and bad settings fail
with their name."""

import numpy as np
import pytest
import torch
from acceleration_helpers import LATENT_THW, one_thread, tiny_transformer

from sora_core.acceleration import RECOMMENDED_THRESHOLD, StepCache, calibrate
from sora_core.cli import generate_main
from sora_core.errors import ConfigError
from sora_core.pipeline import sample_latent, size_conditioning
from sora_core.samplers import build_scheduler

STEPS = 12
LATENT = (1, 4, *LATENT_THW)
MODELS = ("STDiT", "STDiT2", "STDiT3")


@pytest.fixture(autouse=True)
def _one_thread():
    yield from one_thread()


def tiny_model(name: str = "STDiT3") -> torch.nn.Module:
    return tiny_transformer(name)


def text_for(model) -> dict:
    y = torch.randn(1, 1, 8, 16, generator=torch.Generator().manual_seed(1))
    null = model.y_embedder.y_embedding[None, None]
    return {"y": y, "y_null": null, "mask": torch.ones(1, 8, dtype=torch.long)}


def sample(model, step_cache=None, sampler=None, frame_mask=None) -> torch.Tensor:
    sampler = sampler or build_scheduler(
        {"type": "rflow", "num_sampling_steps": STEPS, "cfg_scale": 7.0}, release="1.2"
    )
    latent = torch.randn(LATENT, generator=torch.Generator().manual_seed(2))
    return sample_latent(
        model,
        sampler,
        text_for(model),
        latent,
        noise=3,
        model_kwargs=size_conditioning(1, (64, 64), 17, 24),
        frame_mask=frame_mask,
        step_cache=step_cache,
    )


def block_runs(model) -> "list[int]":
    """A counter of how often the first block runs (once per computed transformer call)."""
    first = model.spatial_blocks[0] if hasattr(model, "spatial_blocks") else model.blocks[0]
    runs = [0]
    first.register_forward_pre_hook(lambda *_: runs.__setitem__(0, runs[0] + 1))
    return runs


def test_off_is_bitwise_identical_to_the_plain_sampler_and_counts_every_call():
    model = tiny_model()
    sampler = build_scheduler({"type": "rflow", "num_sampling_steps": STEPS}, release="1.2")
    latent = torch.randn(LATENT, generator=torch.Generator().manual_seed(2))
    kwargs = size_conditioning(1, (64, 64), 17, 24)
    plain = sampler.sample(model, latent, text_for(model), model_kwargs=kwargs, noise=3)
    cache = StepCache()
    cached = sample_latent(
        model, sampler, text_for(model), latent, noise=3, model_kwargs=kwargs,
        always_mask=False, step_cache=cache,
    )  # fmt: skip
    assert torch.equal(plain, cached)
    assert (cache.computed, cache.reused) == (STEPS, 0) and cache.seconds > 0
    assert model.step_cache is None


def test_threshold_zero_is_bitwise_identical_and_skips_nothing():
    model = tiny_model()
    cache = StepCache(0.0)
    assert torch.equal(sample(model), sample(model, cache))
    assert (cache.computed, cache.reused) == (STEPS, 0)


@pytest.mark.parametrize("name", MODELS)
def test_a_threshold_skips_calls_and_the_blocks_run_only_for_computed_ones(name):
    model = tiny_model(name)
    reference = sample(model)
    runs = block_runs(model)
    cache = StepCache(0.5)
    cached = sample(model, cache)
    assert cache.reused > 0 and cache.computed + cache.reused == STEPS
    assert runs[0] == cache.computed
    assert not torch.equal(reference, cached)
    assert ((reference - cached).norm() / reference.norm()) < 0.2  # reused, not garbage


def test_first_and_last_calls_always_compute():
    model = tiny_model()
    computed = []
    cache = StepCache(1e6)  # would skip every call it may skip
    original = cache.run

    def spy(tokens, probe, blocks, signature=None):
        reused = cache.reused
        out = original(tokens, probe, blocks, signature)
        computed.append(cache.reused == reused)
        return out

    cache.run = spy
    sample(model, cache)
    assert computed[0] and computed[-1] and not any(computed[1:-1])


def test_a_changed_frame_mask_forces_a_computed_call():
    # Image-to-video: the conditioning frame joins the generated ones mid-run (edit ratio 0.5).
    model = tiny_model()
    mask = torch.tensor([[0.5, 1, 1, 1, 1]])
    cache = StepCache(1e6)
    sample(model, cache, frame_mask=mask)
    assert cache.computed == 3  # first, the step where frame 0 starts moving, last


def test_counters_accumulate_over_runs_and_heun_counts_its_extra_calls():
    model = tiny_model()
    heun = build_scheduler({"type": "rflow-heun", "num_sampling_steps": 4}, release="1.2")
    cache = StepCache()
    sample(model, cache, sampler=heun)
    sample(model, cache, sampler=heun)
    assert cache.computed == 2 * heun.model_calls == 14


def test_calibrate_recovers_a_polynomial():
    x = np.linspace(0.01, 0.3, 40)
    y = 3 * x**2 + 0.5 * x + 0.01
    coefficients = calibrate(x, y, degree=2)
    assert np.allclose(coefficients, (3, 0.5, 0.01), atol=1e-6)


def test_recording_collects_calibration_pairs_without_skipping():
    model = tiny_model()
    cache = StepCache(record=True)
    assert torch.equal(sample(model), sample(model, cache))
    assert len(cache.changes) == STEPS - 1 and all(a > 0 and b > 0 for a, b in cache.changes)


@pytest.mark.parametrize("threshold", [-0.1, float("nan")])
def test_a_threshold_out_of_range_is_a_config_error(threshold):
    with pytest.raises(ConfigError, match="step cache threshold"):
        StepCache(threshold)


def test_calibration_needs_enough_pairs():
    with pytest.raises(ConfigError, match="calibration"):
        calibrate([0.1, 0.2], [0.1, 0.2])


def test_caching_a_model_that_is_not_an_stdit_is_a_config_error():
    with pytest.raises(ConfigError, match="STDiT"):
        sample_latent(
            torch.nn.Linear(1, 1),
            build_scheduler({"type": "rflow", "num_sampling_steps": 2}, release="1.2"),
            {"y": torch.zeros(1, 1, 8, 16), "y_null": torch.zeros(1, 1, 8, 16)},
            torch.zeros(LATENT),
            step_cache=StepCache(0.1),
        )


# --- opensora-generate --------------------------------------------------------------------
TINY = ["--demo", "--image-size", "32", "48", "--num-sampling-steps", "6", "--seed", "7"]


def summary(tmp_path, capsys, *flags) -> str:
    assert generate_main([*TINY, "--save-dir", str(tmp_path), "--num-frames", "1", *flags]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_the_summary_states_transformer_calls_and_sampling_time(tmp_path, capsys):
    line = summary(tmp_path, capsys)
    assert "6 transformer calls, sampling " in line and "step cache" not in line


def test_bare_step_cache_flag_uses_the_recommended_threshold(tmp_path, capsys):
    from sora_core.cli.generate_config import build_parser

    assert build_parser().parse_args(["--step-cache"]).step_cache == RECOMMENDED_THRESHOLD
    assert build_parser().parse_args(["--step-cache=0.05"]).step_cache == 0.05
    line = summary(tmp_path, capsys, "--step-cache", "1.0")
    computed = int(line.split("; ")[-1].split()[0])
    assert f"{6 - computed} more answered by the step cache" in line and computed < 6


def test_a_step_cache_value_that_is_not_a_number_names_the_flag(capsys):
    with pytest.raises(SystemExit):
        generate_main(["--step-cache", "config.py"])
    assert "--step-cache: 'config.py' is not a threshold" in capsys.readouterr().err
