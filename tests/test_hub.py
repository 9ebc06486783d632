"""Where `from_pretrained` / `--ckpt-path` names are looked for, and what a miss says."""

import pytest

from sora_core.errors import CheckpointError
from sora_core.hub import locate, looks_like_path


@pytest.mark.parametrize(
    "name",
    [
        "./ckpts/model.pt",
        "/abs/path/OpenSora-STDiT-v3",
        "~/models/vae.safetensors",
        "outputs/000-STDiT3/epoch0-global_step10/ema.pt",
        "hpcai-tech/OpenSora-STDiT-v3.safetensors",
        "C:\\models\\stdit.pth",
        "pretrained_models",
    ],
)
def test_a_name_that_looks_like_a_path_is_reported_as_a_missing_file(tmp_path, monkeypatch, name):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert looks_like_path(name)
    with pytest.raises(CheckpointError) as raised:
        locate(name, "model.from_pretrained")
    message = str(raised.value)
    assert message.startswith("model.from_pretrained:") and "does not exist" in message
    assert "hf download" not in message and "huggingface-cli" not in message
    assert "--ckpt-path" not in message


def test_a_repo_id_missing_from_the_cache_names_the_current_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert not looks_like_path("hpcai-tech/OpenSora-STDiT-v3")
    with pytest.raises(CheckpointError) as raised:
        locate("hpcai-tech/OpenSora-STDiT-v3", "model.from_pretrained")
    message = str(raised.value)
    assert "`hf download hpcai-tech/OpenSora-STDiT-v3`" in message
    assert str(tmp_path / "hub") in message and "huggingface-cli" not in message


def test_a_cached_repo_id_resolves_to_the_snapshot_main_names(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--hpcai-tech--OpenSora-VAE-v1.2"
    (repo / "snapshots" / "old").mkdir(parents=True)
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123\n")
    assert locate("hpcai-tech/OpenSora-VAE-v1.2", "vae.from_pretrained") == (
        repo / "snapshots" / "abc123"
    )


def test_an_existing_path_is_taken_as_it_is(tmp_path):
    weights = tmp_path / "ema.pt"
    weights.write_bytes(b"")
    assert locate(str(weights), "model.from_pretrained") == weights
