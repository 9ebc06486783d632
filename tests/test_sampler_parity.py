"""Every `sampler_*` fixture: the reference's scheduler.sample with a stand-in model, replayed
through our samplers with the recorded random draws; every model call and the final samples
must match within atol = rtol = 1e-5."""

import re

import pytest
import torch
from sampler_standins import (
    RecordingNoise,
    ReplayNoise,
    StandinModel,
    StandinTextEncoder,
    reference_sample,
)

from golden import assert_close, pipeline_cases, read_json, read_tensors
from sora_core.samplers import GeneratorNoise, build_scheduler

CASES = pipeline_cases("sampler_")


def _load(case: str):
    meta = read_json(f"pipeline/{case}.json")
    tensors = read_tensors(f"pipeline/{meta['tensors_file']}")
    return meta, tensors


def _scheduler(meta: dict):
    # "iddpm-v1.0" names the 1.0 release's variant of "iddpm".
    match = re.fullmatch(r"(.+)-v(\d\.\d)", meta["sampler"])
    kind, version = (match.group(1), match.group(2)) if match else (meta["sampler"], "1.2")
    return build_scheduler({"type": kind, **meta["scheduler_kwargs"]}, release=version)


def _run(meta: dict, tensors: dict, noise):
    model = StandinModel(tensors, meta["standin_model"]["k"])
    additional = {
        key.split(".", 1)[1]: value
        for key, value in tensors.items()
        if key.startswith("additional_args.")
    }
    z = tensors["z_init"] if "z_init" in tensors else meta["shape_BCTHW"][1:]
    samples = reference_sample(
        _scheduler(meta),
        model,
        StandinTextEncoder(tensors),
        z,
        meta["prompts"],
        additional_args=additional or None,
        mask=tensors.get("mask"),
        noise=noise,
    )
    return samples, model.calls


def _assert_calls_match(case: str, meta: dict, tensors: dict, calls: list[dict]) -> None:
    recorded = meta["model_calls"]["calls"]
    assert len(calls) == len(recorded), (
        f"{case}: {len(calls)} model calls, reference made {len(recorded)}"
    )
    # In order, so the first failure names the first diverging call.
    for index, (call, expected) in enumerate(zip(calls, recorded)):
        prefix = f"call.{index:03d}"
        half = call["x"].shape[0] // 2
        assert_close(call["x"][:half], tensors[f"{prefix}.x"], what=f"{case} {prefix}.x")
        assert_close(call["t"], tensors[f"{prefix}.t"], what=f"{case} {prefix}.t")
        assert (call["x_mask"] is not None) == expected["has_x_mask"], f"{case} {prefix}: x_mask"
        if expected["has_x_mask"]:
            assert torch.equal(call["x_mask"], tensors[f"{prefix}.x_mask"]), (
                f"{case} {prefix}.x_mask"
            )


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_sampler_replaying_recorded_draws_matches_reference(case):
    meta, tensors = _load(case)
    noise = ReplayNoise(tensors, meta["noise_draws"])
    samples, calls = _run(meta, tensors, noise)
    noise.assert_all_used()
    _assert_calls_match(case, meta, tensors, calls)
    assert_close(samples, tensors["samples"], what=f"{case} samples")


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_sampler_seeded_like_reference_draws_the_same_numbers(case):
    meta, tensors = _load(case)
    noise = RecordingNoise(GeneratorNoise(seed=meta["rng"]["torch_manual_seed_before_sample"]))
    samples, _ = _run(meta, tensors, noise)
    assert len(noise.draws) == len(meta["noise_draws"])
    for draw, expected in zip(noise.draws, meta["noise_draws"]):
        assert torch.equal(draw, tensors[expected["key"]]), f"{case} {expected['key']}"
    assert_close(samples, tensors["samples"], what=f"{case} samples")
