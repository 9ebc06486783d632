"""STDiT / STDiT2 / STDiT3 against the reference's golden fixtures (`stdit/index.json`)."""

import pytest
import torch

from golden import (
    assert_close,
    check_against_reference,
    read_json,
    read_tensors,
    stdit_cases,
)
from sora_core.checkpoints import build_model


def load_case(name: str):
    """The case's sidecar, a strictly loaded fp32 model, its inputs and tensors."""
    if name.startswith("MISSING-INDEX:"):
        pytest.fail(f"fixture index missing: {name}")
    sidecar = read_json(f"stdit/{name}.json")
    tensors = read_tensors(f"stdit/{name}.safetensors")
    model = build_model({"type": sidecar["reference"]["class"], **sidecar["constructor_kwargs"]})
    state = {
        k.removeprefix("state_dict."): v for k, v in tensors.items() if k.startswith("state_dict.")
    }
    model.load_state_dict(state, strict=True)
    inputs = {k.removeprefix("input."): v for k, v in tensors.items() if k.startswith("input.")}
    return sidecar, model.eval(), inputs, tensors


@pytest.mark.parity
@pytest.mark.parametrize("case", stdit_cases())
def test_forward_matches_reference_fp32(case):
    sidecar, model, inputs, tensors = load_case(case)
    check_against_reference(case, sidecar, model, lambda: model(**inputs), tensors)


@pytest.mark.parity
@pytest.mark.parametrize("case", stdit_cases())
def test_sdpa_and_math_attention_agree(case):
    _, model, inputs, _ = load_case(case)
    with torch.no_grad():
        sdpa = model.set_attention_backend("sdpa")(**inputs)
        math = model.set_attention_backend("math")(**inputs)
    # Two backends differ by float reassociation, which grows with |out|: the fixtures' own
    # relative-plus-absolute tolerance, not a flat absolute one.
    assert_close(sdpa, math, what=f"{case} sdpa vs math")


# Conditioning scalars the reference rounds to the model dtype before embedding them (spec §6).
ROUNDED_INPUTS = ("timestep", "height", "width", "fps", "ar", "num_frames")


def rounded_to(inputs: dict, dtype: torch.dtype) -> dict:
    """`inputs` with the conditioning scalars rounded through `dtype`, as a bf16 model sees them."""
    return {
        key: value.to(dtype).to(value.dtype) if key in ROUNDED_INPUTS else value
        for key, value in inputs.items()
    }


@pytest.mark.parity
@pytest.mark.parametrize("case", stdit_cases())
def test_bf16_tracks_fp32(case):
    # The comparison holds the model's inputs fixed: the timestep rounding itself (999 -> 1000
    # in bf16) is the reference's, checked separately below.
    _, model, inputs, _ = load_case(case)
    inputs = rounded_to(inputs, torch.bfloat16)
    with torch.no_grad():
        expected = model(**inputs)
        out = model.to(torch.bfloat16)(**inputs)
    assert out.dtype == torch.float32
    relative = (out - expected).norm() / expected.norm()
    assert relative < 2e-2, f"{case}: bf16 relative L2 error {relative:.4f}"
