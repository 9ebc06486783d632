"""The inference configs shipped under configs/: each is read and planned as the reference's own."""

import re
from pathlib import Path

import pytest

from sora_core.cli.generate_config import DEFAULT_CONFIG, resolve_generate_config
from sora_core.cli.generate_plan import plan_generation

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Inference configs; training configs live under a `train/` folder, as in Open-Sora's tree.
SHIPPED = sorted(p for p in CONFIGS.rglob("*.py") if "train" not in p.relative_to(CONFIGS).parts)


def test_the_release_inference_configs_are_shipped():
    names = {str(path.relative_to(CONFIGS)) for path in SHIPPED}
    assert {
        "opensora-v1-2/inference/sample.py",
        "opensora-v1-1/inference/sample.py",
        "opensora/inference/16x256x256.py",
        "opensora/inference/16x512x512.py",
    } <= names


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A Hugging Face cache holding (empty) snapshots of every repo the configs name."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    for path in SHIPPED:
        for repo_id in re.findall(r'from_pretrained="([\w.-]+/[\w.-]+)"', path.read_text()):
            (tmp_path / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "0").mkdir(
                parents=True, exist_ok=True
            )
    return tmp_path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_a_shipped_config_plans_a_generation(path, hub_cache):
    release_file = hub_cache / "OpenSora-v1-HQ.pth"
    release_file.touch()
    argv = [str(path), "--prompt", "a red kite over a beach"]
    if "pretrained_models" in path.read_text():
        argv += ["--ckpt-path", str(release_file)]
    config, _ = resolve_generate_config(argv)
    plan = plan_generation(config)
    assert plan.batches and plan.num_sample == 1


def test_the_shipped_1_2_sample_is_the_default_config():
    # Running without a config and with the shipped sample.py must be the same run.
    shipped, _ = resolve_generate_config([str(CONFIGS / "opensora-v1-2/inference/sample.py")])
    default, _ = resolve_generate_config([])
    assert {key: shipped[key] for key in DEFAULT_CONFIG} == {
        key: default[key] for key in DEFAULT_CONFIG
    }
