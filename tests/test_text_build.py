"""`build_text_encoder` takes Open-Sora's text_encoder configs; prompt paths refuse bad input."""

import shutil

import pytest
import torch
from text_helpers import quiet_truncation, tiny_t5_dir

from golden import assert_close, read_json, read_tensors
from sora_core.checkpoints import build_text_encoder
from sora_core.errors import CheckpointError, ConfigError
from sora_core.text import ClassEncoder, PromptOptions, T5TextEncoder, prepare_prompts

REPO_ID = "DeepFloyd/t5-v1_1-xxl"


def _hub_cache(root):
    """A Hugging Face cache holding the tiny T5 as DeepFloyd/t5-v1_1-xxl."""
    repo = root / "models--DeepFloyd--t5-v1_1-xxl"
    shutil.copytree(tiny_t5_dir(), repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    return root


def _assert_reference_encoding(encoder: T5TextEncoder) -> None:
    quiet_truncation()
    data = read_json("text/encode_L200.json")
    expected = read_tensors("text/encode_L200.safetensors")
    out = encoder.encode(data["texts"])
    assert torch.equal(out["mask"], expected["mask"])
    assert_close(out["y"], expected["y"], what="built from config")


@pytest.mark.parity
def test_open_sora_1_2_training_config_from_the_hub_cache(tmp_path):
    config = {
        "type": "t5",
        "from_pretrained": REPO_ID,
        "model_max_length": 200,
        "shardformer": True,
        "local_files_only": True,
        "cache_dir": str(_hub_cache(tmp_path / "hub")),
        "dtype": "fp32",
    }
    encoder = build_text_encoder(config)
    assert encoder.model_max_length == 200 and encoder.output_dim == 32
    _assert_reference_encoding(encoder)


def test_hub_cache_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(_hub_cache(tmp_path / "hub")))
    encoder = build_text_encoder({"type": "t5", "from_pretrained": REPO_ID})
    assert encoder.model_max_length == 120 and encoder.dtype == torch.bfloat16


@pytest.mark.parity
def test_open_sora_1_0_folder_holding_t5_v1_1_xxl(tmp_path):
    shutil.copytree(tiny_t5_dir(), tmp_path / "t5_ckpts" / "t5-v1_1-xxl")
    config = {"type": "t5", "from_pretrained": str(tmp_path / "t5_ckpts"), "dtype": "fp32"}
    encoder = build_text_encoder({**config, "model_max_length": 200})
    _assert_reference_encoding(encoder)


def test_nothing_is_downloaded(tmp_path):
    config = {"type": "t5", "from_pretrained": REPO_ID, "cache_dir": str(tmp_path)}
    with pytest.raises(CheckpointError, match="nothing is downloaded"):
        build_text_encoder(config)


def test_class_encoder_config():
    encoder = build_text_encoder({"type": "classes", "num_classes": 10})
    assert isinstance(encoder, ClassEncoder) and encoder.null(2).tolist() == [10, 10]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"type": "bert", "from_pretrained": "x"}, "text_encoder.type"),
        ({"type": "t5", "from_pretrained": "x", "colour": 1}, "unknown key"),
        ({"type": "t5"}, "from_pretrained is required"),
        ({"type": "classes"}, "num_classes is required"),
    ],
)
def test_bad_configs_are_named(config, message):
    with pytest.raises(ConfigError, match=message):
        build_text_encoder(config)


def test_score_captions_belong_to_1_2_only():
    with pytest.raises(ConfigError, match="1.2"):
        PromptOptions(release="1.1", aesthetic_score=6.5)
    with pytest.raises(ConfigError, match="release"):
        PromptOptions(release="2.0")


def test_1_1_cleans_each_loop_segment_and_cuts_json():
    prepared = prepare_prompts(
        ['|0|A Cat.|2|A <b>Dog</b>. {"mask_strategy": "0"}'], PromptOptions(release="1.1")
    )
    assert prepared.texts == ["|0|a cat.|2|a dog."]
    assert prepared.mask_strategies == ["0"]
    assert prepared.for_loop(1) == ["a cat."] and prepared.for_loop(3) == ["a dog."]


def test_cleaning_can_be_switched_off():
    prepared = prepare_prompts(
        ["  A <b>Cat</b>  "], PromptOptions(release="1.2", aesthetic_score=6.5), clean=False
    )
    assert prepared.texts == ["a <b>cat</b>   aesthetic score: 6.5."]


def test_null_comes_from_the_transformer_built_beside_it():
    from sora_core.models import STDiT3

    transformer = STDiT3(depth=1, hidden_size=48, num_heads=2, caption_channels=32)
    encoder = build_text_encoder(
        {"type": "t5", "from_pretrained": str(tiny_t5_dir()), "model_max_length": 300}
    )
    expected = transformer.y_embedder.y_embedding[None].repeat(2, 1, 1)[:, None]
    assert torch.equal(encoder.null(2, transformer), expected)
    encoder.y_embedder = transformer.y_embedder  # as the reference scripts do
    assert torch.equal(encoder.null(2), expected)
    short = build_text_encoder(
        {"type": "t5", "from_pretrained": str(tiny_t5_dir()), "model_max_length": 120}
    )
    with pytest.raises(ConfigError, match="trained with different lengths"):
        short.null(2, transformer)
    with pytest.raises(ConfigError, match="y_embedding"):
        short.null(2)
