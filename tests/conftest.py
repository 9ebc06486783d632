"""Shared test setup: the fixture root, determinism, the `parity` marker's meaning, and the
tiny models folder the node tests load from."""

import os

import pytest
import torch

from golden import fixtures_dir

# Triton picks its CPU interpreter when it is first imported (its language builtins are
# compiled then): without a GPU, the tests' Triton kernels run on it (test_triton_norms).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_report_header(config):
    return f"SORA_FIXTURES_DIR: {fixtures_dir()} (exists: {fixtures_dir().is_dir()})"


@pytest.fixture(autouse=True)
def _deterministic_cpu():
    # Parity to 1e-5 needs the same reduction order run to run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="module")
def tiny_models_dir(tmp_path_factory):
    """A ComfyUI `models/` folder of the tiny models (`tiny_models.py`), where the pack's
    loaders look for the length of the test module."""
    from pack_loader import pack_module
    from tiny_models import write_models_dir

    paths = pack_module("paths")
    folder = write_models_dir(tmp_path_factory.mktemp("models"))
    paths.use_models_dir(folder)
    yield folder
    paths.use_models_dir(None)
