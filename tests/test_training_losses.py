"""The `training` fixture: rectified-flow and IDDPM training losses with the stand-in model,
replaying the recorded timesteps and noise (or the recorded seed where the reference's
logit-normal draw went unrecorded), and the frame-masked `mean_flat`."""

import pytest
import torch
from sampler_standins import ReplayNoise, StandinModel

from golden import assert_close, pipeline_cases, read_json, read_tensors
from sora_core.samplers import GeneratorNoise, build_scheduler, mean_flat, training_losses

CASES = pipeline_cases("training")


def _load(case: str):
    meta = read_json(f"pipeline/{case}.json")
    return meta, read_tensors(f"pipeline/{meta['tensors_file']}")


def _rflow_case(meta, tensors, sub, rng):
    prefix = sub["key_prefix"]
    batch = tensors["x_start"].shape[0]
    mask = tensors["mask"] if sub["mask"] else None
    kwargs = {"y": tensors["y"], "mask": tensors["text_attention_mask"]}
    for name in ("height", "width", "num_frames"):
        kwargs[name] = torch.full((batch,), float(sub[name]))
    scheduler = build_scheduler(
        {
            "type": "rflow",
            "sample_method": sub["sample_method"],
            "use_timestep_transform": sub["use_timestep_transform"],
        }
    )
    model = StandinModel(tensors, meta["standin_model"]["k"], prefix=f"{prefix}.standin.")
    terms = training_losses(
        scheduler,
        model,
        tensors["x_start"],
        kwargs,
        noise=tensors[f"{prefix}.noise_given"] if sub["given_noise"] else None,
        mask=mask,
        t=torch.tensor(sub["t"]) if sub["t"] is not None else None,
        rng=rng,
    )
    return terms, model.calls


def _check_rflow(case, tensors, sub, terms, calls):
    prefix = sub["key_prefix"]
    (call,) = calls
    assert_close(call["t"], tensors[f"{prefix}.model_t"], what=f"{case} {prefix} model t")
    assert_close(call["x"], tensors[f"{prefix}.model_x_t"], what=f"{case} {prefix} model x_t")
    if sub["mask"]:
        assert torch.equal(call["x_mask"], tensors["mask"]), f"{case} {prefix} x_mask"
    assert_close(terms["loss"], tensors[f"{prefix}.loss"], what=f"{case} {prefix} loss")


def _fully_recorded(sub) -> bool:
    # The reference's LogisticNormal draw goes through torch.normal, which was not recorded.
    return sub["t"] is not None or sub["sample_method"] != "logit-normal"


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_rflow_losses_replaying_recorded_draws_match_reference(case):
    meta, tensors = _load(case)
    for sub in meta["rflow_training_losses"]["cases"]:
        if not _fully_recorded(sub):
            continue
        rng = ReplayNoise(tensors, sub["rng_draws"])
        terms, calls = _rflow_case(meta, tensors, sub, rng)
        rng.assert_all_used()
        _check_rflow(case, tensors, sub, terms, calls)


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_rflow_losses_seeded_like_reference_match_including_logit_normal(case):
    meta, tensors = _load(case)
    for sub in meta["rflow_training_losses"]["cases"]:
        terms, calls = _rflow_case(
            meta, tensors, sub, GeneratorNoise(seed=sub["torch_manual_seed"])
        )
        _check_rflow(case, tensors, sub, terms, calls)
        assert_close(
            calls[0]["t"], torch.tensor(sub["t_seen_by_model"]), what=f"{case} {sub['key_prefix']}"
        )


def _iddpm_case(meta, tensors, sub, rng):
    prefix = sub["key_prefix"]
    mask = tensors["mask"] if sub["mask"] else None
    model = StandinModel(tensors, meta["standin_model"]["k"], prefix=f"{prefix}.standin.")
    scheduler = build_scheduler({"type": "iddpm", "timestep_respacing": "", "learn_sigma": True})
    kwargs = {"y": tensors["y"], "mask": tensors["text_attention_mask"]}
    terms = training_losses(scheduler, model, tensors["x_start"], kwargs, mask=mask, rng=rng)
    return terms, model.calls


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("seeded", [False, True], ids=["replayed", "seeded"])
def test_iddpm_losses_match_reference(case, seeded):
    meta, tensors = _load(case)
    for sub in meta["iddpm_training_losses"]["cases"]:
        prefix = sub["key_prefix"]
        rng = (
            GeneratorNoise(seed=sub["torch_manual_seed"])
            if seeded
            else ReplayNoise(tensors, sub["rng_draws"])
        )
        terms, calls = _iddpm_case(meta, tensors, sub, rng)
        (call,) = calls
        assert_close(call["t"], tensors[f"{prefix}.model_t"], what=f"{case} {prefix} model t")
        for term in ("mse", "vb", "loss"):
            assert_close(terms[term], tensors[f"{prefix}.{term}"], what=f"{case} {prefix} {term}")


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_mean_flat_counts_only_masked_frames(case):
    _, tensors = _load(case)
    assert_close(
        mean_flat(tensors["x_start"] ** 2, mask=tensors["mask"]),
        tensors["mean_flat_masked"],
        what=f"{case} mean_flat_masked",
    )
