"""Parity with the reference's text path: every case of `text/text_index.json`."""

import pytest
import torch
from text_helpers import TEXT_KINDS, fp32_encoder, quiet_truncation

from golden import assert_close, read_json, read_tensors, text_cases
from sora_core.text import (
    ClassEncoder,
    PromptOptions,
    basic_clean,
    clean_caption,
    null_captions,
    prepare_prompts,
    text_preprocessing,
)

pytestmark = pytest.mark.parity


def _case(name: str) -> "tuple[dict, dict]":
    index = read_json("text/text_index.json")
    entry = next((case for case in index["cases"] if case["name"] == name), None)
    if entry is None:
        pytest.fail(f"case {name!r} is not in text_index.json")
    return entry, index["tolerance"]["y"]


def _check_encoding(data: dict, case: str, tolerance: dict) -> None:
    quiet_truncation()
    tensors = read_tensors(f"text/{data['tensors_file']}")
    encoder = fp32_encoder(data["model_max_length"])
    tokens = encoder.tokenize(data["texts"])
    assert torch.equal(tokens.input_ids, tensors["input_ids"]), f"{case}: token ids"
    out = encoder.encode(data["texts"])
    assert out["mask"].dtype == torch.int64
    assert torch.equal(out["mask"], tensors["mask"]), f"{case}: mask"
    assert out["y"].shape == tensors["y"].shape and out["y"].dtype == torch.float32
    assert_close(out["y"], tensors["y"], tolerance["atol"], tolerance["rtol"], f"{case}: y")


def test_every_case_kind_is_tested():
    kinds = {case["kind"] for case in read_json("text/text_index.json")["cases"]}
    assert kinds <= set(TEXT_KINDS), f"untested kinds {kinds - set(TEXT_KINDS)}"


@pytest.mark.parametrize("case", text_cases("encode"))
def test_encode_matches_reference(case):
    _, tolerance = _case(case)
    data = read_json(f"text/{case}.json")
    _check_encoding(data, case, tolerance)
    for row in data["rows"]:
        ids = fp32_encoder(data["model_max_length"]).tokenizer.token_ids(row["text"])
        assert ids == row["token_ids_untruncated"], f"{case}/{row['id']}"


def _replay(row: dict, release: str) -> None:
    settings = row.get("settings") or {}
    prepared = prepare_prompts(
        [row["raw_prompt"]],
        PromptOptions(
            release=release,
            aesthetic_score=settings.get("aes"),
            motion_score=settings.get("flow"),
            camera_motion=settings.get("camera_motion"),
        ),
    )
    if "after_extract_json" in row:
        extracted = row["after_extract_json"]
        assert prepared.reference_paths == [extracted["reference_path"]]
        assert prepared.mask_strategies == [extracted["mask_strategy"]]
    if "merged" in row:
        assert prepared.texts == [row["merged"]], row["id"]
    assert prepared.for_loop(row.get("loop_i", 0)) == [row["text"]], row["id"]


@pytest.mark.parametrize("case", text_cases("pipeline"))
def test_release_prompt_path_matches_reference(case):
    _, tolerance = _case(case)
    data = read_json(f"text/{case}.json")
    for row, text in zip(data["rows"], data["texts"], strict=True):
        assert row["text"] == text
        _replay(row, data["release"])
    _check_encoding(data, case, tolerance)


class _CaptionEmbedder(torch.nn.Module):
    """Stands for the transformer's y_embedder: it holds the learned null caption."""

    def __init__(self, y_embedding: torch.Tensor):
        super().__init__()
        self.register_buffer("y_embedding", y_embedding)


@pytest.mark.parametrize("case", text_cases("null"))
def test_null_is_the_learned_caption(case):
    data = read_json(f"text/{case}.json")
    tensors = read_tensors(f"text/{data['tensors_file']}")
    for run in data["runs"]:
        length, n = run["model_max_length"], run["n"]
        embedding = tensors[f"L{length}.y_embedding"]
        expected = tensors[f"L{length}.null"]
        assert torch.equal(null_captions(embedding, n, length), expected)

        encoder = fp32_encoder(length)
        encoder.y_embedder = _CaptionEmbedder(embedding)
        try:
            assert torch.equal(encoder.null(n), expected)
        finally:
            encoder.y_embedder = None
        # The unconditional branch is not T5("").
        assert not torch.allclose(encoder.encode([""] * n)["y"], expected)


@pytest.mark.parametrize("case", text_cases("class_encoder"))
def test_class_encoder_matches_reference(case):
    data = read_json(f"text/{case}.json")
    encoder = ClassEncoder(data["num_classes"])
    y = encoder.encode(data["labels"])["y"]
    assert y.tolist() == data["encode_y"] and y.dtype == torch.int64
    null = encoder.null(len(data["null"]))
    assert null.tolist() == data["null"] and null.dtype == torch.int64
    assert encoder.output_dim == data["output_dim"]


@pytest.mark.parametrize("case", text_cases("text_preprocessing"))
def test_caption_cleaning_matches_reference(case):
    rows = read_json(f"text/{case}.json")["rows"]
    assert rows
    failures = []
    for row in rows:
        source = row["input"]
        results = {
            "basic_clean": basic_clean(source),
            "clean_caption_once": clean_caption(source),
            "text_preprocessing": text_preprocessing(source),
            "text_preprocessing_use_text_preprocessing_false": text_preprocessing(source, False),
            "text_preprocessing_is_idempotent": text_preprocessing(text_preprocessing(source))
            == text_preprocessing(source),
        }
        failures += [
            (row["index"], key, source, value, row[key])
            for key, value in results.items()
            if key in row and value != row[key]
        ]
    assert not failures, failures
