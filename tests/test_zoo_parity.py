"""DiT, Latte, PixArt-α and PixArt-Σ against the reference's golden fixtures (`zoo/index.json`).

Each case is built from its sidecar's class and constructor arguments, loaded strictly, and
called with the inputs the sidecar names (positional, keyword and `data_info` entries)."""

import pytest
import torch

from golden import (
    assert_close,
    check_against_reference,
    read_json,
    read_tensors,
    zoo_cases,
)
from sora_core.checkpoints import build_model


def load_case(name: str):
    """The case's sidecar, a strictly loaded fp32 model, its call arguments and tensors."""
    sidecar = read_json(f"zoo/{name}.json")
    tensors = read_tensors(f"zoo/{name}.safetensors")
    model = build_model({"type": sidecar["reference"]["class"], **sidecar["constructor_kwargs"]})
    state = {
        k.removeprefix("state_dict."): v for k, v in tensors.items() if k.startswith("state_dict.")
    }
    model.load_state_dict(state, strict=True)
    spec = sidecar["forward_inputs"]
    args = [tensors[f"input.{name}"] for name in spec["positional"]]
    kwargs = {name: tensors[f"input.{name}"] for name in spec["keyword"]}
    if spec["data_info"]:
        kwargs["data_info"] = {
            name: tensors[f"input.data_info.{name}"] for name in spec["data_info"]
        }
    return sidecar, model.eval(), args, kwargs, tensors


def relative_l2(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual.float() - expected.float()).norm() / expected.float().norm()).item()


@pytest.mark.parity
@pytest.mark.parametrize("case", zoo_cases())
def test_forward_matches_reference_fp32(case):
    sidecar, model, args, kwargs, tensors = load_case(case)
    check_against_reference(case, sidecar, model, lambda: model(*args, **kwargs), tensors)


@pytest.mark.parity
@pytest.mark.parametrize("case", zoo_cases())
def test_bf16_tracks_fp32(case):
    # A bf16 model sees its timestep rounded (949.05 -> 948); both runs take the rounded one,
    # so the comparison measures the bf16 arithmetic alone.
    _, model, args, kwargs, _ = load_case(case)
    args = [args[0], args[1].to(torch.bfloat16).to(args[1].dtype), *args[2:]]
    with torch.no_grad():
        expected = model(*args, **kwargs)
        out = model.to(torch.bfloat16)(*args, **kwargs)
    assert out.dtype == torch.float32
    error = relative_l2(out, expected)
    assert error < 2e-2, f"{case}: bf16 relative L2 error {error:.4f}"


@pytest.mark.parity
@pytest.mark.parametrize("case", zoo_cases())
def test_math_attention_backend_agrees(case):
    _, model, args, kwargs, tensors = load_case(case)
    with torch.no_grad():
        out = model.set_attention_backend("math")(*args, **kwargs)
    assert_close(out, tensors["output.out"], what=f"{case} (math attention)")
