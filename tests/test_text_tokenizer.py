"""T5 tokenisation gives the reference's ids from every kind of tokenizer file."""

import json
import logging
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from text_helpers import tiny_t5_dir, tiny_tokenizer_json_dir
from tokenizers import Tokenizer

from golden import PROJECT_ROOT, read_json, text_cases
from sora_core.errors import CheckpointError, PromptError
from sora_core.text import load_t5_tokenizer

SPECIAL_LITERALS = "<extra_id_0> x </s> y<pad>z"


def comfyui_style_tokenizer(folder: Path) -> Path:
    """The tiny tokenizer in the form of ComfyUI's bundled t5_tokenizer (legacy=False)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = tiny_tokenizer_json_dir()
    spec = json.loads((source / "tokenizer.json").read_text())
    spec["normalizer"] = {
        "type": "Sequence",
        "normalizers": [
            spec["normalizer"],
            {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"},
        ],
    }
    spec["pre_tokenizer"] = {
        "type": "Metaspace",
        "replacement": "\u2581",
        "prepend_scheme": "first",
        "split": True,
    }
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    config = json.loads((source / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "legacy": False}))
    shutil.copy(source / "special_tokens_map.json", folder)
    return folder


def _sources(tmp_path: Path) -> dict:
    return {
        "model folder (spiece.model)": tiny_t5_dir(),
        "spiece.model file": tiny_t5_dir() / "spiece.model",
        "tokenizer.json folder": tiny_tokenizer_json_dir(),
        "tokenizer.json file": tiny_tokenizer_json_dir() / "tokenizer.json",
        "ComfyUI-style legacy=False": comfyui_style_tokenizer(tmp_path / "comfy"),
    }


def _encode_rows():
    rows = []
    for case in text_cases("encode") + text_cases("pipeline"):
        data = read_json(f"text/{case}.json")
        rows += [(case, row["text"], row["token_ids_untruncated"]) for row in data["rows"]]
    return rows


@pytest.mark.parity
def test_every_tokenizer_source_gives_the_reference_ids(tmp_path):
    rows = _encode_rows()
    assert rows
    for name, source in _sources(tmp_path).items():
        tokenizer = load_t5_tokenizer(source)
        wrong = [(case, text) for case, text, ids in rows if tokenizer.token_ids(text) != ids]
        assert not wrong, f"{name}: {wrong[:3]}"


def test_comfyui_file_alone_would_change_ids_after_special_tokens(tmp_path):
    # Why normalising matters: ComfyUI's legacy=False pipeline drops the ▁ after <pad>.
    folder = comfyui_style_tokenizer(tmp_path / "comfy")
    as_shipped = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(SPECIAL_LITERALS).ids
    ours = load_t5_tokenizer(folder).token_ids(SPECIAL_LITERALS)
    assert ours == load_t5_tokenizer(tiny_t5_dir()).token_ids(SPECIAL_LITERALS)
    assert as_shipped != ours


def test_agrees_with_transformers_on_random_texts():
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tiny_tokenizer_json_dir()))
    ours = load_t5_tokenizer(tiny_t5_dir())
    atoms = ["a", "cat", " ", "  ", "\t", "\n", "\u3000", "\xa0", "</s>", "<pad>", "<unk>"]
    atoms += ["<extra_id_0>", "<extra_id_10>", "<extra_id_100>", "ＡＢＣ", "ﬁ", "①", "e\u0301"]
    atoms += [
        "🎬",
        "東京",
        "\u2581",
        ".",
        "!!",
        "<",
        ">",
        "</s",
        "x</s>y",
        "WORLD",
        "123",
        "＜/s＞",
    ]
    generator = random.Random(5)
    for _ in range(500):
        text = "".join(generator.choice(atoms) for _ in range(generator.randint(0, 8)))
        assert ours.token_ids(text) == reference(text)["input_ids"], repr(text)


def test_pads_truncates_and_keeps_eos_last(caplog):
    tokenizer = load_t5_tokenizer(tiny_t5_dir())
    long_text = "a cat walks " * 40
    full = tokenizer.token_ids(long_text)
    with caplog.at_level(logging.WARNING, logger="sora_core.text.tokenizer"):
        batch = tokenizer(["", "a cat", long_text], max_length=16)
    assert batch.input_ids.shape == (3, 16) and batch.input_ids.dtype == torch.int64
    assert batch.input_ids[0].tolist() == [1] + [0] * 15
    assert batch.attention_mask[0].tolist() == [1] + [0] * 15
    assert batch.input_ids[2].tolist() == full[:15] + [1]
    assert batch.attention_mask[2].sum() == 16
    assert batch.lengths[2] == len(full) > 16
    assert "truncated" in caplog.text and str(len(full)) in caplog.text


@pytest.mark.slow  # a fresh interpreter importing torch and transformers
def test_needs_neither_protobuf_nor_sentencepiece():
    script = (
        "import sys\n"
        "for name in ('google.protobuf', 'google', 'sentencepiece'):\n"
        "    sys.modules[name] = None\n"
        "from sora_core.text import load_t5_tokenizer\n"
        f"print(load_t5_tokenizer({str(tiny_t5_dir() / 'spiece.model')!r}).token_ids('a cat'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[5, 234, 1]"


def test_missing_or_wrong_tokenizer_files_are_reported(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_t5_tokenizer(tmp_path / "nowhere" / "spiece.model")
    with pytest.raises(CheckpointError, match="holds neither"):
        load_t5_tokenizer(tmp_path)
    (tmp_path / "spiece.model").write_bytes(b"\xff\xff\xff not a model")
    with pytest.raises(CheckpointError, match="not a SentencePiece model"):
        load_t5_tokenizer(tmp_path / "spiece.model")
    bpe = {"model": {"type": "BPE", "vocab": {}, "merges": []}, "added_tokens": []}
    (tmp_path / "tokenizer.json").write_text(json.dumps(bpe))
    with pytest.raises(CheckpointError, match="Unigram"):
        load_t5_tokenizer(tmp_path / "tokenizer.json")


def test_a_prompt_that_is_not_text_is_refused():
    with pytest.raises(PromptError, match="string"):
        load_t5_tokenizer(tiny_t5_dir()).token_ids(None)
