"""Building a run's models from Open-Sora config dicts: local paths, the Hugging Face cache
(never a download), and checkpoints that do not belong together."""

import copy
import json

import av
import pytest
from pipeline_helpers import reference_vae_config

from golden import fixtures_dir, read_json
from sora_core.cli import generate_main
from sora_core.cli.generate_config import DEFAULT_CONFIG
from sora_core.errors import CheckpointError
from sora_core.pipeline import Placement
from sora_core.pipeline.loading import load_generation_models, resolve_checkpoint

REPO_IDS = {
    "hpcai-tech/OpenSora-STDiT-v3": "checkpoints/stdit3_hf",
    "hpcai-tech/OpenSora-VAE-v1.2": "checkpoints/vae_v12_hf",
    "DeepFloyd/t5-v1_1-xxl": "text/tiny_t5",
}


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A Hugging Face cache holding the fixtures' tiny models under the release repo ids."""
    root = tmp_path / "hub"
    for repo_id, folder in REPO_IDS.items():
        repo = root / ("models--" + repo_id.replace("/", "--"))
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text("0123abcd")
        (repo / "snapshots").mkdir()
        (repo / "snapshots" / "0123abcd").symlink_to(fixtures_dir() / folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    return root


def release_config() -> dict:
    """Open-Sora 1.2's sample config naming the models by repo id (tiny VAE widths added)."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    vae = reference_vae_config(read_json("checkpoints/vae_v12.json"))
    config.update(image_size=(32, 32), num_frames=17, seed=3, dtype="fp32", prompt=["a fox"])
    config["vae"] = {**vae, "from_pretrained": config["vae"]["from_pretrained"]}
    config["model"].update(enable_flash_attn=True, enable_layernorm_kernel=True)
    config["scheduler"]["num_sampling_steps"] = 2
    return config


def test_release_repo_ids_resolve_from_the_local_hub_cache(hub_cache):
    resolved = resolve_checkpoint("hpcai-tech/OpenSora-STDiT-v3", "model")
    assert (fixtures_dir() / "checkpoints" / "stdit3_hf").samefile(resolved)


def test_generate_loads_release_names_from_the_hub_cache(hub_cache, tmp_path, capsys):
    config = tmp_path / "sample.json"
    config.write_text(json.dumps(release_config()))
    assert generate_main([str(config), "--save-dir", str(tmp_path / "out")]) == 0
    with av.open(str(tmp_path / "out" / "sample_0000.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 17
    assert "demo" not in capsys.readouterr().out


def test_ckpt_path_overrides_the_transformer(hub_cache, tmp_path):
    config = tmp_path / "sample.json"
    config.write_text(json.dumps(release_config()))
    single = fixtures_dir() / "checkpoints" / "stdit3_single.safetensors"
    argv = [str(config), "--ckpt-path", str(single), "--num-frames", "1"]
    assert generate_main([*argv, "--save-dir", str(tmp_path)]) == 0
    assert (tmp_path / "sample_0000.png").is_file()


def test_a_checkpoint_of_another_release_is_rejected(hub_cache):
    config = release_config()
    config["model"]["type"] = "STDiT2-XL/2"
    config = {key: config[key] for key in ("model", "vae", "text_encoder", "scheduler")}
    config["model"]["from_pretrained"] = resolve_checkpoint("hpcai-tech/OpenSora-STDiT-v3", "model")
    config["vae"]["from_pretrained"] = resolve_checkpoint("hpcai-tech/OpenSora-VAE-v1.2", "vae")
    config["text_encoder"]["from_pretrained"] = str(fixtures_dir() / "text" / "tiny_t5")
    with pytest.raises(CheckpointError, match="Open-Sora 1.2 transformer"):
        load_generation_models(config, Placement.create("cpu", "fp32"))


def test_text_encoder_length_that_does_not_fit_the_transformer_is_named(hub_cache, capsys):
    config = release_config()
    config["text_encoder"]["model_max_length"] = 120
    path = hub_cache.parent / "sample.json"
    path.write_text(json.dumps(config))
    assert generate_main([str(path), "--save-dir", str(hub_cache.parent)]) == 2
    error = capsys.readouterr().err
    assert "do not belong together" in error and "120" in error
