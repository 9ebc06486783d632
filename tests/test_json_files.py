"""Every JSON file read from a user's folders: bounded in size, malformed content named.

Each reader is fed the same damaged files (bad JSON, binary, nested 100,000 deep, the wrong
top-level type, too large) and must raise the project's error naming the file, never a
bare ValueError, RecursionError or MemoryError.
"""

import json

import pytest

from sora_core import json_files
from sora_core.comfy_client import read_prompt
from sora_core.datasets.features import BatchFeatureDataset
from sora_core.errors import CheckpointError, ConfigError, DatasetError, SoraError
from sora_core.text.tokenizer import T5PromptTokenizer, _extra_ids
from sora_core.training.checkpoint import read_checkpoint

DAMAGED = {
    "bad JSON": (b'{"model": ', "not a valid JSON file"),
    "binary": (b'{"a": "\xff\xfe"}', "not UTF-8"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not a valid JSON"),
    "huge integer": (b'{"a": ' + b"9" * 5000 + b"}", "not a valid JSON file"),
}


def _tokenizer_json(folder, content):
    path = folder / "tokenizer.json"
    path.write_bytes(content)
    return lambda: T5PromptTokenizer.from_tokenizer_json(path)


def _tokenizer_config(folder, content):
    (folder / "tokenizer_config.json").write_bytes(content)
    return lambda: _extra_ids(folder)


def _training_state(folder, content):
    checkpoint = folder / "epoch0-global_step1"
    checkpoint.mkdir()
    (checkpoint / "running_states.json").write_bytes(content)
    return lambda: read_checkpoint(checkpoint)


def _feature_index(folder, content):
    (folder / "index.json").write_bytes(content)
    return lambda: BatchFeatureDataset(folder)


def _workflow(folder, content):
    path = folder / "workflow_api.json"
    path.write_bytes(content)
    return lambda: read_prompt(path)


READERS = {
    "tokenizer.json": (_tokenizer_json, CheckpointError),
    "tokenizer_config.json": (_tokenizer_config, CheckpointError),
    "running_states.json": (_training_state, CheckpointError),
    "index.json": (_feature_index, DatasetError),
    "workflow_api.json": (_workflow, ConfigError),
}


@pytest.mark.parametrize("damage", DAMAGED)
@pytest.mark.parametrize("reader", READERS)
def test_damaged_json_is_a_named_error(tmp_path, reader, damage):
    write, error = READERS[reader]
    content, message = DAMAGED[damage]
    read = write(tmp_path, content)
    with pytest.raises(error, match=message) as caught:
        read()
    assert reader in str(caught.value)


@pytest.mark.parametrize("reader", READERS)
def test_json_larger_than_the_bound_is_refused_before_reading(tmp_path, monkeypatch, reader):
    monkeypatch.setattr(json_files, "MAX_JSON_BYTES", 1000)
    write, error = READERS[reader]
    read = write(tmp_path, json.dumps({"pad": "x" * 2000}).encode())
    with pytest.raises(error, match=r"has 2,\d{3} bytes; a .* has at most 1,000"):
        read()


@pytest.mark.parametrize(
    ("reader", "content", "message"),
    [
        ("tokenizer.json", [1, 2], "holds a JSON list"),
        ("tokenizer.json", {"model": {"type": "BPE"}}, "'BPE' model; a T5 tokenizer is Unigram"),
        ("tokenizer.json", {"model": "Unigram"}, "'Unigram' model"),
        ("tokenizer.json", {"model": {"type": "Unigram", "vocab": [["a"]]}}, "malformed"),
        ("tokenizer.json", {"model": {"type": "Unigram", "vocab": 5}}, "malformed"),
        ("tokenizer_config.json", {"extra_ids": "many"}, "extra_ids 'many'"),
        ("tokenizer_config.json", {"extra_ids": 10**9}, "0-1000"),
        ("running_states.json", {"epoch": 1}, "missing"),
        ("running_states.json", [1], "holds a JSON list"),
        ("index.json", {"files": "batch_0.safetensors"}, "'files' must be a list"),
        ("index.json", {"nothing": 1}, "'files' must be a list"),
    ],
)
def test_json_of_the_wrong_shape_is_a_named_error(tmp_path, reader, content, message):
    write, error = READERS[reader]
    with pytest.raises(error, match=message):
        write(tmp_path, json.dumps(content).encode())()


def test_every_reader_error_is_in_the_project_family(tmp_path):
    for index, (write, error) in enumerate(READERS.values()):
        assert issubclass(error, SoraError)
        folder = tmp_path / str(index)
        folder.mkdir()
        with pytest.raises(SoraError):
            write(folder, b"\x00\x01")()
