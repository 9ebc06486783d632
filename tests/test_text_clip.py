"""The CLIP option of Open-Sora's configs (`type="clip"`) from a local folder."""

import json
import shutil
import string

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from golden import assert_close
from sora_core.checkpoints import build_text_encoder
from sora_core.errors import CheckpointError, ConfigError

LENGTH = 16


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """A tiny random CLIP text model with a character-level BPE vocabulary."""
    folder = tmp_path_factory.mktemp("clip")
    letters = list(string.ascii_lowercase)
    tokens = letters + [f"{c}</w>" for c in letters] + ["ca", "cat</w>"]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\nc a\nca t</w>\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77}))
    config = CLIPTextConfig(
        vocab_size=len(tokens),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=LENGTH,
        bos_token_id=len(tokens) - 2,
        eos_token_id=len(tokens) - 1,
        pad_token_id=len(tokens) - 1,
    )
    torch.manual_seed(0)
    CLIPTextModel(config).save_pretrained(str(folder))
    return folder


def test_pooled_embedding_as_the_reference(clip_folder):
    prompts = ["a cat", "dog on a hill"]
    encoder = build_text_encoder(
        {"type": "clip", "from_pretrained": str(clip_folder), "model_max_length": LENGTH}
    )
    y = encoder.encode(prompts)["y"]
    tokenizer = CLIPTokenizer.from_pretrained(str(clip_folder))
    model = CLIPTextModel.from_pretrained(str(clip_folder)).eval()
    tokens = tokenizer(
        prompts, truncation=True, max_length=LENGTH, padding="max_length", return_tensors="pt"
    )
    with torch.no_grad():
        expected = model(input_ids=tokens["input_ids"]).pooler_output
    assert y.shape == (2, 1, 1, 16) and encoder.output_dim == 16
    assert_close(y[:, 0, 0], expected, what="CLIP pooled output")
    null = encoder.null(2, torch.ones(LENGTH, 16))
    assert null.shape == (2, 1, LENGTH, 16)


def test_clip_needs_a_local_folder(tmp_path):
    with pytest.raises(CheckpointError, match="x.bin. does not exist"):
        build_text_encoder({"type": "clip", "from_pretrained": str(tmp_path / "x.bin")})
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match="local folder"):
        build_text_encoder({"type": "clip", "from_pretrained": str(tmp_path / "x.bin")})
    with pytest.raises(CheckpointError, match="local folder"):
        build_text_encoder({"type": "clip", "from_pretrained": str(tmp_path)})


def test_clip_max_length_beyond_its_positions_is_refused(clip_folder):
    with pytest.raises(ConfigError, match="positions"):
        build_text_encoder({"type": "clip", "from_pretrained": str(clip_folder)})


def test_clip_model_folder_with_prefixed_keys_and_vision_tower(clip_folder, tmp_path):
    shutil.copytree(clip_folder, tmp_path / "clip")
    weights = load_file(str(clip_folder / "model.safetensors"))
    renamed = {"text_model." + key.removeprefix("text_model."): v for key, v in weights.items()}
    renamed["vision_model.post_layernorm.weight"] = torch.ones(4)
    save_file(renamed, str(tmp_path / "clip" / "model.safetensors"))
    config = {"type": "clip", "model_max_length": LENGTH}
    reference = build_text_encoder({**config, "from_pretrained": str(clip_folder)})
    encoder = build_text_encoder({**config, "from_pretrained": str(tmp_path / "clip")})
    assert torch.equal(encoder.encode(["a cat"])["y"], reference.encode(["a cat"])["y"])
