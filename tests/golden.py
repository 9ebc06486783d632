"""Finding and reading the reference's golden fixtures (`SORA_FIXTURES_DIR`).

Cases are enumerated from the index files, so another fixture set in the same format
runs through the same tests. A listed case that cannot be read fails its test: nothing
here skips.
"""

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

PROJECT_ROOT = Path(__file__).resolve().parents[1]


# The public fixture set ships with the repository, so a fresh clone's tests pass; the
# team's copy beside the project (`../shared/fixtures`) must stay byte-identical to it.
BUNDLED_FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
SHARED_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"


def fixtures_dir() -> Path:
    """The fixture root: `$SORA_FIXTURES_DIR`, else the set bundled under `tests/fixtures`."""
    configured = os.environ.get("SORA_FIXTURES_DIR")
    return Path(configured) if configured else BUNDLED_FIXTURES


MISSING_INDEX = "MISSING-INDEX:"


def _fail_on_missing_index(relative: str) -> None:
    # A case standing in for a missing index reaches here as "pipeline/MISSING-INDEX:x.json".
    if MISSING_INDEX in relative:
        index = relative.split(MISSING_INDEX, 1)[1].split("/")[0]
        index = index.removesuffix(".json.json").removesuffix(".safetensors")
        pytest.fail(f"fixture index {index!r} is missing under {fixtures_dir()}")


def read_json(relative: str) -> dict:
    """A JSON file under the fixture root; a missing file fails the calling test."""
    _fail_on_missing_index(relative)
    path = fixtures_dir() / relative
    if not path.is_file():
        pytest.fail(f"fixture file {path} is missing (SORA_FIXTURES_DIR={fixtures_dir()})")
    return json.loads(path.read_text(encoding="utf-8"))


def read_tensors(relative: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file under the fixture root."""
    _fail_on_missing_index(relative)
    path = fixtures_dir() / relative
    if not path.is_file():
        pytest.fail(f"fixture tensors {path} are missing (SORA_FIXTURES_DIR={fixtures_dir()})")
    return load_file(str(path))


def _missing(index: Path) -> list[str]:
    # A missing index still yields one case, whose test then fails naming the file.
    return [f"{MISSING_INDEX}{index.name}"]


def stdit_cases() -> list[str]:
    """Case names listed in `stdit/index.json`."""
    index = fixtures_dir() / "stdit" / "index.json"
    if not index.is_file():
        return _missing(index)
    return [case["name"] for case in json.loads(index.read_text())["cases"]]


def zoo_cases() -> list[str]:
    """Case names listed in `zoo/index.json` (DiT, Latte, PixArt-α/Σ)."""
    index = fixtures_dir() / "zoo" / "index.json"
    if not index.is_file():
        return _missing(index)
    return [case["name"] for case in json.loads(index.read_text())["cases"]]


def pipeline_cases(prefix: str) -> list[str]:
    """Fixture names (JSON sidecars, without `.json`) in `pipeline/MANIFEST.json` starting with `prefix`."""
    index = fixtures_dir() / "pipeline" / "MANIFEST.json"
    if not index.is_file():
        return _missing(index)
    names = [entry["name"] for entry in json.loads(index.read_text())["files"]]
    cases = [
        name[: -len(".json")]
        for name in names
        if name.startswith(prefix) and name.endswith(".json")
    ]
    return cases or [f"NO-CASE:{prefix}*.json in {index}"]


def checkpoint_entries(model_prefix: str = "") -> list[dict]:
    """Entries of `checkpoints/index.json` whose model name starts with `model_prefix`."""
    index = fixtures_dir() / "checkpoints" / "index.json"
    if not index.is_file():
        return [{"path": f"MISSING-INDEX:{index}", "model": model_prefix}]
    entries = json.loads(index.read_text())["checkpoints"]
    return [entry for entry in entries if entry["model"].startswith(model_prefix)]


def text_cases(kind: str = "") -> list[str]:
    """Case names in `text/text_index.json` (optionally those whose kind matches)."""
    index = fixtures_dir() / "text" / "text_index.json"
    if not index.is_file():
        return _missing(index)
    cases = json.loads(index.read_text()).get("cases", [])
    return [case["name"] for case in cases if not kind or case.get("kind", "").startswith(kind)]


def assert_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    what: str = "",
) -> None:
    """`torch.testing.assert_close` in fp32 with the fixtures' tolerance and a named message."""
    torch.testing.assert_close(
        actual.detach().float().cpu(),
        expected.float(),
        atol=atol,
        rtol=rtol,
        msg=lambda message: f"{what}: {message}" if what else message,
    )


def record_first_outputs(model: torch.nn.Module, names: list[str]) -> dict:
    """Forward hooks keeping the first output of each named submodule."""
    seen: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    for name in names:
        if name not in modules:
            seen[name] = None  # reported as missing below
            continue

        def hook(_module, _args, output, name=name):
            seen.setdefault(name, output.detach().clone())

        modules[name].register_forward_hook(hook)
    return seen


def first_divergence(sidecar: dict, seen: dict, tensors: dict) -> str:
    """The first `debug.*` activation (in the sidecar's order) that differs from ours."""
    for key in sidecar["debug_tensors"]:
        name = key.removeprefix("debug.")
        ours, ref = seen.get(name), tensors[key]
        if ours is None:
            return f"{key}: module not found or never called"
        if ours.shape != ref.shape:
            return f"{key}: shape {tuple(ours.shape)} vs reference {tuple(ref.shape)}"
        err = (ours.float() - ref.float()).abs().max().item()
        if not torch.allclose(ours.float(), ref.float(), atol=1e-5, rtol=1e-5):
            return f"{key}: max abs diff {err:.3g}"
    return "every debug activation matches; the divergence is after the last one"


def check_against_reference(case: str, sidecar: dict, model, call, tensors: dict) -> None:
    """Run `call()` (the model's forward) and compare with `output.out`; on a mismatch, name
    the first `debug.*` activation that differs."""
    names = [key.removeprefix("debug.") for key in sidecar["debug_tensors"]]
    seen = record_first_outputs(model, names)
    with torch.no_grad():
        out = call()
    expected = tensors["output.out"]
    if out.shape != expected.shape or not torch.allclose(out, expected, atol=1e-5, rtol=1e-5):
        pytest.fail(
            f"{case}: output differs from the reference (max abs diff "
            f"{(out - expected).abs().max().item() if out.shape == expected.shape else 'shape'}); "
            f"first diverging activation: {first_divergence(sidecar, seen, tensors)}"
        )
    assert_close(out, expected, what=case)
