"""Shared test setup: the fixture root, determinism, and the `parity` marker's meaning."""

import pytest
import torch

from golden import fixtures_dir


def pytest_report_header(config):
    return f"SORA_FIXTURES_DIR: {fixtures_dir()} (exists: {fixtures_dir().is_dir()})"


@pytest.fixture(autouse=True)
def _deterministic_cpu():
    # Parity to 1e-5 needs the same reduction order run to run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(0)
    yield
