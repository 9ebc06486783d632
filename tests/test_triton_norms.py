"""The Triton normalisation kernels equal the PyTorch path (checked on the CPU through
Triton's interpreter, `TRITON_INTERPRET=1`), and the dispatch falls back to PyTorch wherever
Triton cannot or should not run."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from acceleration_helpers import forward_inputs, one_thread, tiny_transformer

from sora_core.errors import ConfigError
from sora_core.kernels import norms
from sora_core.kernels.optional import importable

one_thread = pytest.fixture(autouse=True)(one_thread)

CUDA = torch.device("cuda")  # only a device name: nothing here runs on a GPU
CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def follow_environment():
    previous = norms.set_norm_kernels(None)
    yield
    norms.set_norm_kernels(previous)


@pytest.fixture
def triton_device(monkeypatch):
    """Triton kernels forced: on the GPU where there is one, else on CPU tensors through
    Triton's interpreter (which conftest selects before triton is imported)."""
    pytest.importorskip("triton")
    if torch.cuda.is_available():
        device = CUDA
    elif os.environ.get("TRITON_INTERPRET") == "1":
        device = CPU
    else:
        # conftest sets it; a run that overrides it would silently lose the kernel checks
        pytest.fail("no GPU and TRITON_INTERPRET is not 1: unset it to check the kernels")
    monkeypatch.setenv(norms.NORM_KERNELS_ENV, "triton")
    return device


@pytest.fixture
def without_triton(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)  # `import triton` raises ImportError
    importable.cache_clear()
    yield
    importable.cache_clear()


def both_paths(fn, *tensors):
    """fn's output and the gradients of a fixed projection of it w.r.t. `tensors`, per path."""
    results = {}
    for kernels in ("torch", "triton"):
        norms.set_norm_kernels(kernels)
        out = fn()
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
        grads = torch.autograd.grad((out.float() * weights).sum(), tensors)
        results[kernels] = (out, *grads)
    return results["torch"], results["triton"]


def assert_close_fp32(expected, got):
    for want, have in zip(expected, got):
        assert have.dtype == want.dtype and have.shape == want.shape
        torch.testing.assert_close(have, want, rtol=1e-5, atol=1e-5 * want.abs().max().item())


# --- dispatch ------------------------------------------------------------------------------
def test_auto_uses_pytorch_for_cpu_tensors():
    assert norms.norm_kernels(CPU) == "torch"


def test_auto_uses_triton_for_cuda_tensors_when_it_imports(monkeypatch):
    monkeypatch.setattr(norms, "triton_available", lambda: True)
    assert norms.norm_kernels(CUDA) == "triton"


def test_auto_leaves_fusion_to_torch_compile_while_it_traces(monkeypatch):
    monkeypatch.setattr(norms, "triton_available", lambda: True)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert norms.norm_kernels(CUDA) == "torch"


def test_auto_falls_back_to_pytorch_without_triton(without_triton):
    assert not norms.triton_available()
    assert norms.norm_kernels(CUDA) == "torch"


def test_environment_forces_pytorch_on_cuda(monkeypatch):
    monkeypatch.setattr(norms, "triton_available", lambda: True)
    monkeypatch.setenv(norms.NORM_KERNELS_ENV, "torch")
    assert norms.norm_kernels(CUDA) == "torch"


def test_setting_overrides_the_environment(monkeypatch):
    monkeypatch.setattr(norms, "triton_available", lambda: True)
    monkeypatch.setenv(norms.NORM_KERNELS_ENV, "triton")
    norms.set_norm_kernels("torch")
    assert norms.norm_kernels(CUDA) == "torch"


def test_unknown_kernel_name_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv(norms.NORM_KERNELS_ENV, "cuda")
    with pytest.raises(ConfigError, match=r"SORA_NORM_KERNELS.*'cuda'.*'auto', 'torch', 'triton'"):
        norms.norm_kernels(CPU)
    with pytest.raises(ConfigError, match="'fast'"):
        norms.set_norm_kernels("fast")


def test_forcing_triton_without_it_says_how_to_install(monkeypatch, without_triton):
    monkeypatch.setenv(norms.NORM_KERNELS_ENV, "triton")
    with pytest.raises(ConfigError, match=r"not installed.*\[triton\]"):
        norms.norm_kernels(CUDA)


def test_forcing_triton_on_cpu_tensors_needs_the_interpreter(monkeypatch):
    pytest.importorskip("triton")  # imported with the interpreter chosen (conftest)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv(norms.NORM_KERNELS_ENV, "triton")
    with pytest.raises(ConfigError, match="TRITON_INTERPRET=1"):
        norms.norm_kernels(CPU)


def test_a_model_runs_where_triton_cannot_be_imported():
    """A plain install (no triton): importing and running a model never needs it."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["triton"] = None  # as if not installed
        import torch
        from acceleration_helpers import forward_inputs, tiny_transformer
        from sora_core.kernels import norm_kernels
        model = tiny_transformer("STDiT3", depth=1)
        with torch.no_grad():
            out = model(**forward_inputs())
        assert torch.isfinite(out).all()
        assert norm_kernels(torch.device("cuda")) == "torch"
        print("ok")
        """
    )
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, norms.NORM_KERNELS_ENV: "auto", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# --- kernels against PyTorch (the interpreter on a CPU) ------------------------------------
@pytest.mark.parametrize("shared", [False, True], ids=["per-sample", "shared"])
def test_modulated_layer_norm_matches_pytorch_forward_and_backward(triton_device, shared):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 40, generator=g).to(triton_device).requires_grad_()
    table = torch.randn(1 if shared else 2, 6, 40, generator=g).to(triton_device)
    table.requires_grad_()
    shift, scale = table[:, :2].chunk(2, dim=1)  # [B, 1, C] views, as the blocks slice them

    def fn():
        return norms.modulated_layer_norm(x, shift, scale)

    assert_close_fp32(*both_paths(fn, x, table))


def test_rms_norm_matches_pytorch_forward_and_backward_on_a_strided_input(triton_device):
    g = torch.Generator().manual_seed(1)
    q = torch.randn(3, 5, 4, 24, generator=g).to(triton_device).transpose(1, 2)  # [B, h, N, d]
    weight = torch.randn(24, generator=g).to(triton_device).requires_grad_()
    q.requires_grad_()

    def fn():
        return norms.rms_norm(q, weight)

    assert_close_fp32(*both_paths(fn, q, weight))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_kernels_round_once(triton_device, dtype):
    """Below fp32 the kernels keep fp32 statistics and round once: within a few units in
    the last place of the PyTorch path."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 40, generator=g).to(triton_device, dtype)
    shift, scale = (torch.randn(2, 1, 40, generator=g).to(triton_device, dtype) for _ in "ab")
    weight = torch.randn(40, generator=g).to(triton_device)
    results = {}
    for kernels in ("torch", "triton"):
        norms.set_norm_kernels(kernels)
        results[kernels] = (
            norms.modulated_layer_norm(x, shift, scale, fp32=True),
            norms.rms_norm(x, weight),
        )
    for want, have in zip(results["torch"], results["triton"]):
        assert have.dtype == dtype
        torch.testing.assert_close(have.float(), want.float(), rtol=2e-2, atol=3e-2)


def test_shapes_the_kernel_does_not_take_use_pytorch(triton_device):
    x = torch.randn(2, 5, 8, device=triton_device)
    shift = torch.randn(8, device=triton_device)  # not [B, 1, C]
    norms.set_norm_kernels("triton")
    out = norms.modulated_layer_norm(x, shift, shift)
    norms.set_norm_kernels("torch")
    torch.testing.assert_close(out, norms.modulated_layer_norm(x, shift, shift), rtol=0, atol=0)


@pytest.mark.parametrize("x_mask", [False, True], ids=["plain", "x_mask"])
def test_stdit3_with_triton_norms_matches_pytorch(triton_device, x_mask):
    """Forward and every parameter's gradient (training uses these norms)."""
    model = tiny_transformer("STDiT3", depth=1).to(triton_device).train()  # drop rates are 0
    inputs = {
        key: value.to(triton_device) if isinstance(value, torch.Tensor) else value
        for key, value in forward_inputs(x_mask=x_mask).items()
    }
    params = [p for p in model.parameters() if p.requires_grad]

    def fn():
        return model(**inputs)

    assert_close_fp32(*both_paths(fn, *params))
