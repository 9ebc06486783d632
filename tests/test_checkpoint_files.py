"""Weight files are read safely in every on-disk layout, with errors that name the problem."""

import json

import pytest
import torch
from safetensors.torch import save_file

from sora_core.checkpoints import read_folder_config, read_safetensors_shapes, read_state_dict
from sora_core.errors import CheckpointError


@pytest.fixture
def weights() -> dict[str, torch.Tensor]:
    return {"blocks.0.weight": torch.randn(3, 4), "blocks.1.bias": torch.randn(5)}


def _same(loaded: dict, expected: dict) -> None:
    assert loaded.keys() == expected.keys()
    for key in expected:
        assert torch.equal(loaded[key], expected[key]), key


def test_reads_single_safetensors_file(tmp_path, weights):
    save_file(weights, tmp_path / "w.safetensors")
    _same(read_state_dict(tmp_path / "w.safetensors"), weights)


def test_reads_pickle_with_weights_only(tmp_path, weights):
    torch.save(weights, tmp_path / "w.pth")
    _same(read_state_dict(tmp_path / "w.pth"), weights)


def test_refuses_pickle_that_would_run_code(tmp_path):
    torch.save({"object": object()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_state_dict(tmp_path / "evil.pt")


def test_reads_folder_preferring_safetensors(tmp_path, weights):
    save_file(weights, tmp_path / "model.safetensors")
    torch.save({"stale": torch.zeros(1)}, tmp_path / "pytorch_model.bin")
    _same(read_state_dict(tmp_path), weights)


def test_reads_sharded_folder(tmp_path, weights):
    save_file(
        {"blocks.0.weight": weights["blocks.0.weight"]},
        tmp_path / "model-00001-of-00002.safetensors",
    )
    save_file(
        {"blocks.1.bias": weights["blocks.1.bias"]}, tmp_path / "model-00002-of-00002.safetensors"
    )
    index = {
        "weight_map": {
            "blocks.0.weight": "model-00001-of-00002.safetensors",
            "blocks.1.bias": "model-00002-of-00002.safetensors",
        }
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    _same(read_state_dict(tmp_path), weights)


def test_sharded_folder_with_missing_tensor_is_an_error(tmp_path, weights):
    save_file({"blocks.0.weight": weights["blocks.0.weight"]}, tmp_path / "shard.safetensors")
    index = {
        "weight_map": {"blocks.0.weight": "shard.safetensors", "blocks.1.bias": "shard.safetensors"}
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="blocks.1.bias"):
        read_state_dict(tmp_path)


def test_missing_path_names_it(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "nowhere.safetensors")


def test_folder_without_weights_lists_expected_names(tmp_path):
    with pytest.raises(CheckpointError, match="model.safetensors"):
        read_state_dict(tmp_path)


def test_damaged_safetensors_is_a_checkpoint_error(tmp_path):
    (tmp_path / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        read_state_dict(tmp_path / "broken.safetensors")


def test_unknown_extension_lists_supported_ones(tmp_path):
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"\.safetensors"):
        read_state_dict(tmp_path / "weights.npz")


def test_shapes_come_from_the_header(tmp_path, weights):
    save_file(weights, tmp_path / "w.safetensors")
    assert read_safetensors_shapes(tmp_path / "w.safetensors") == {
        "blocks.0.weight": (3, 4),
        "blocks.1.bias": (5,),
    }


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ("model.safetensors.index.json", "names shard 'model.safetensors.index.json'"),
        ("other.safetensors.index.json", "names shard"),
        ("../outside.safetensors", "index's own folder"),
        ("/tmp/outside.safetensors", "index's own folder"),
        ("C:outside.safetensors", "index's own folder"),
        ("..\\outside.safetensors", "index's own folder"),
    ],
)
def test_shard_index_is_confined_to_its_folder(tmp_path, weights, shard, message):
    folder = tmp_path / "model"
    folder.mkdir()
    save_file(weights, tmp_path / "outside.safetensors")
    (folder / "other.safetensors.index.json").write_text('{"weight_map": {}}')
    index = {"weight_map": {"blocks.0.weight": shard}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=message):
        read_state_dict(folder)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "holds a JSON list"),
        ('{"weight_map": [1]}', "must map tensor names"),
        ('{"weight_map": {"a": 3}}', "must map tensor names"),
        ("[" * 100_000 + "]" * 100_000, "not a valid JSON"),
    ],
)
def test_malformed_shard_index_is_named(tmp_path, text, message):
    (tmp_path / "model.safetensors.index.json").write_text(text)
    with pytest.raises(CheckpointError, match=message):
        read_state_dict(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", "holds a JSON list"),
        (b'{"depth": 2, "name": "\xff\xfe"}', "not a valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not a valid JSON"),
    ],
)
def test_folder_config_that_is_not_an_object_is_named(tmp_path, content, message):
    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        read_folder_config(tmp_path)


@pytest.mark.parametrize("stored", [[torch.zeros(2)], 5, "weights"])
def test_pickle_holding_no_dict_is_named(tmp_path, stored):
    torch.save(stored, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match=f"holds a {type(stored).__name__}, not a state dict"):
        read_state_dict(tmp_path / "odd.pt")


def test_pickle_integer_keys_are_left_out(tmp_path):
    weight = torch.ones(2)
    torch.save({0: torch.zeros(1), "model": {"w": weight, 1: {}}}, tmp_path / "odd.pt")
    loaded = read_state_dict(tmp_path / "odd.pt")
    assert list(loaded) == ["model"] and list(loaded["model"]) == ["w"]
    assert torch.equal(loaded["model"]["w"], weight)


def test_pickles_are_refused_under_a_torch_that_weights_only_cannot_protect(
    tmp_path, weights, monkeypatch
):
    torch.save(weights, tmp_path / "w.pt")
    monkeypatch.setattr(torch, "__version__", "2.5.1+cu121")
    with pytest.raises(CheckpointError, match=r"torch 2.5.1\+cu121 .*CVE-2025-32434.*torch>=2.6"):
        read_state_dict(tmp_path / "w.pt")
    save_file(weights, tmp_path / "w.safetensors")  # safetensors stay readable
    _same(read_state_dict(tmp_path / "w.safetensors"), weights)
