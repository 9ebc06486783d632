"""The tiny T5 written in every layout users have loads back to the same encodings."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from text_helpers import fp32_encoder, quiet_truncation, tiny_t5_dir, tiny_tokenizer_json_dir

from golden import assert_close, read_json, read_tensors
from sora_core.checkpoints import load_text_encoder
from sora_core.checkpoints import text as text_checkpoints
from sora_core.errors import CheckpointError, ConfigError

LENGTH = 120
# fp16 weights round to 11 significant bits; fp8 e4m3 to 4 (see README "Text encoder memory").
FP16_ATOL = 1e-2
FP8_RELATIVE_RMS = 0.15


def _fixture() -> "tuple[list[str], dict]":
    quiet_truncation()
    data = read_json("text/encode_L120.json")
    return data["texts"], read_tensors("text/encode_L120.safetensors")


def _weights() -> dict:
    return load_file(str(tiny_t5_dir() / "model.safetensors"))


def _single_file(folder: Path, dtype: torch.dtype, name: str) -> Path:
    """A ComfyUI-style encoder-only file: HF T5EncoderModel keys, one dtype."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = {
        key: tensor.to(dtype)
        for key, tensor in _weights().items()
        if key != "encoder.embed_tokens.weight"
    }
    save_file(weights, str(folder / name))
    return folder / name


def _rms_ratio(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).pow(2).mean() / expected.pow(2).mean()).sqrt().item()


def _linear_dtypes(encoder) -> "set[torch.dtype]":
    return {
        module.weight.dtype
        for module in encoder.model.modules()
        if isinstance(module, torch.nn.Linear)
    }


@pytest.mark.parity
def test_sharded_bin_folder_with_tokenizer_json(tmp_path):
    texts, expected = _fixture()
    folder = tmp_path / "t5-v1_1-xxl"
    folder.mkdir()
    shutil.copy(tiny_t5_dir() / "config.json", folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tiny_tokenizer_json_dir() / name, folder)
    weights, weight_map = _weights(), {}
    keys = sorted(weights)
    for shard, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2 :]), start=1):
        shard_name = f"pytorch_model-0000{shard}-of-00002.bin"
        torch.save({key: weights[key] for key in part}, folder / shard_name)
        weight_map.update(dict.fromkeys(part, shard_name))
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    encoder = load_text_encoder(folder, dtype="fp32", model_max_length=LENGTH)
    assert encoder.tokenizer.source.endswith("tokenizer.json")
    out = encoder.encode(texts)
    assert torch.equal(out["mask"], expected["mask"])
    assert_close(out["y"], expected["y"], what="sharded .bin folder")


def test_fp32_folder_loads_in_bf16_by_default():
    encoder = load_text_encoder(tiny_t5_dir(), model_max_length=LENGTH)
    assert encoder.dtype == torch.bfloat16
    assert _linear_dtypes(encoder) == {torch.bfloat16}
    texts, expected = _fixture()
    y = encoder.encode(texts)["y"]
    assert y.dtype == torch.float32
    assert _rms_ratio(y, expected["y"]) < 0.05


@pytest.mark.parity
def test_comfyui_fp16_single_file(tmp_path):
    path = _single_file(tmp_path, torch.float16, "t5xxl_fp16.safetensors")
    texts, expected = _fixture()
    stored = load_text_encoder(
        path, tokenizer=tiny_t5_dir(), compute_dtype="fp32", model_max_length=LENGTH
    )
    assert _linear_dtypes(stored) == {torch.float16} and stored.dtype == torch.float32
    upcast = load_text_encoder(path, tokenizer=tiny_t5_dir(), dtype="fp32", model_max_length=LENGTH)
    y = stored.encode(texts)["y"]
    # fp16 storage computes exactly what the upcast weights compute ...
    assert_close(y, upcast.encode(texts)["y"], what="fp16 storage vs upcast")
    # ... which is the reference up to the rounding of the weights to fp16.
    assert_close(y, expected["y"], atol=FP16_ATOL, rtol=0, what="fp16 file vs reference")
    default = load_text_encoder(path, tokenizer=tiny_t5_dir(), model_max_length=LENGTH)
    assert _linear_dtypes(default) == {torch.float16} and default.dtype == torch.bfloat16


@pytest.mark.parity
def test_comfyui_fp8_single_file_stays_fp8(tmp_path):
    path = _single_file(tmp_path, torch.float8_e4m3fn, "t5xxl_fp8_e4m3fn.safetensors")
    texts, expected = _fixture()
    default = load_text_encoder(path, tokenizer=tiny_t5_dir(), model_max_length=LENGTH)
    assert _linear_dtypes(default) == {torch.float8_e4m3fn}
    assert default.dtype == torch.bfloat16
    assert _rms_ratio(default.encode(texts)["y"], expected["y"]) < FP8_RELATIVE_RMS
    exact = load_text_encoder(
        path, tokenizer=tiny_t5_dir(), compute_dtype="fp32", model_max_length=LENGTH
    )
    upcast = load_text_encoder(path, tokenizer=tiny_t5_dir(), dtype="fp32", model_max_length=LENGTH)
    y = exact.encode(texts)["y"]
    assert_close(y, upcast.encode(texts)["y"], what="fp8 storage vs upcast")
    assert _rms_ratio(y, expected["y"]) < FP8_RELATIVE_RMS


def test_fp8_requested_for_a_full_precision_folder():
    encoder = load_text_encoder(tiny_t5_dir(), dtype="fp8", model_max_length=LENGTH)
    assert _linear_dtypes(encoder) == {torch.float8_e4m3fn}
    texts, expected = _fixture()
    assert _rms_ratio(encoder.encode(texts)["y"], expected["y"]) < FP8_RELATIVE_RMS


def test_single_file_finds_comfyuis_bundled_tokenizer(tmp_path, monkeypatch):
    path = _single_file(tmp_path / "models" / "text_encoders", torch.float16, "t5xxl.safetensors")
    bundled = tmp_path / "ComfyUI" / "comfy" / "text_encoders" / "t5_tokenizer"
    shutil.copytree(tiny_tokenizer_json_dir(), bundled)
    (bundled.parents[1] / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "ComfyUI"))
    encoder = load_text_encoder(path, model_max_length=LENGTH)
    assert Path(encoder.tokenizer.source).parent == bundled


def test_prefixed_full_t5_checkpoint_loads_its_encoder(tmp_path):
    weights = {f"text_encoders.t5xxl.transformer.{k}": v for k, v in _weights().items()}
    weights["text_encoders.t5xxl.transformer.decoder.final_layer_norm.weight"] = torch.ones(32)
    weights["text_encoders.t5xxl.transformer.lm_head.weight"] = torch.zeros(512, 32)
    save_file(weights, str(tmp_path / "t5.safetensors"))
    texts, expected = _fixture()
    encoder = load_text_encoder(
        tmp_path / "t5.safetensors", tokenizer=tiny_t5_dir(), dtype="fp32", model_max_length=LENGTH
    )
    assert_close(encoder.encode(texts[:3])["y"], expected["y"][:3], what="prefixed file")


def test_cache_skips_t5_for_known_prompts():
    encoder = load_text_encoder(tiny_t5_dir(), dtype="fp32", model_max_length=LENGTH, cache_size=2)
    calls = []
    encoder.model.register_forward_hook(lambda module, args, output: calls.append(1))
    first = encoder.encode(["a cat", "a dog"])
    second = encoder.encode(["a dog", "a cat"])
    assert len(calls) == 1
    assert torch.equal(first["y"][0], second["y"][1]) and torch.equal(
        first["mask"][1], second["mask"][0]
    )
    encoder.encode(["a bird"])  # evicts the least recently used ("a dog")
    encoder.encode(["a dog"])
    assert len(calls) == 3 and len(encoder.cache) == 2
    encoder.clear_cache()
    encoder.encode(["a cat"])
    assert len(calls) == 4


def test_weights_go_back_to_the_offload_device_after_encoding(monkeypatch):
    encoder = load_text_encoder(tiny_t5_dir(), dtype="fp32", model_max_length=LENGTH, cache_size=0)
    moves = []
    move = encoder.model.to
    monkeypatch.setattr(encoder.model, "to", lambda *a, **k: moves.append(a[0]) or move(*a, **k))
    encoder.encode(["a cat"])
    assert moves == [encoder.device, encoder.offload_device]
    encoder.keep_on_device = True
    moves.clear()
    encoder.encode(["a cat"])
    assert moves == [encoder.device]


def test_matches_the_cached_fp32_encoder():
    # Batch composition does not change a prompt's encoding (the cache relies on it).
    texts, _ = _fixture()
    alone = fp32_encoder(LENGTH).encode(texts[1:2])["y"]
    assert_close(alone[0], fp32_encoder(LENGTH).encode(texts)["y"][1], what="row alone vs batch")


def test_not_a_t5_file_is_refused(tmp_path):
    save_file({"model.diffusion.weight": torch.zeros(2, 2)}, str(tmp_path / "unet.safetensors"))
    with pytest.raises(CheckpointError, match="not a T5 encoder"):
        load_text_encoder(tmp_path / "unet.safetensors", tokenizer=tiny_t5_dir())
    with pytest.raises(CheckpointError, match="does not exist"):
        load_text_encoder(tmp_path / "missing.safetensors", tokenizer=tiny_t5_dir())


def test_scaled_fp8_files_are_refused_by_name(tmp_path):
    weights = {k: v for k, v in _weights().items() if k != "encoder.embed_tokens.weight"}
    weights["encoder.block.0.layer.0.SelfAttention.q.scale_weight"] = torch.ones(())
    save_file(weights, str(tmp_path / "t5xxl_fp8_e4m3fn_scaled.safetensors"))
    with pytest.raises(CheckpointError, match="scaled fp8"):
        load_text_encoder(tmp_path / "t5xxl_fp8_e4m3fn_scaled.safetensors", tokenizer=tiny_t5_dir())


def test_missing_tokenizer_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(text_checkpoints, "comfyui_t5_tokenizer_dir", lambda: None)
    path = _single_file(tmp_path, torch.float16, "t5xxl_fp16.safetensors")
    with pytest.raises(CheckpointError, match="no T5 tokenizer"):
        load_text_encoder(path)


def test_tokenizer_of_another_model_is_refused(tmp_path):
    weights = {k: v for k, v in _weights().items() if k != "encoder.embed_tokens.weight"}
    weights["shared.weight"] = weights["shared.weight"][:300].clone()
    save_file(weights, str(tmp_path / "small_vocab.safetensors"))
    with pytest.raises(CheckpointError, match="do not belong together"):
        load_text_encoder(tmp_path / "small_vocab.safetensors", tokenizer=tiny_t5_dir())


def test_fp8_compute_is_refused():
    with pytest.raises(ConfigError, match="compute_dtype"):
        load_text_encoder(tiny_t5_dir(), compute_dtype="fp8")


@pytest.mark.parametrize("change", [{"num_layers": 100_000}, {"d_model": 7}])
def test_config_json_is_checked_against_the_weights_before_building(tmp_path, change):
    folder = tmp_path / "t5"
    shutil.copytree(tiny_t5_dir(), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    ((key, value),) = change.items()
    with pytest.raises(CheckpointError, match=rf"{key} = {value} \(the weights have \d+\)"):
        load_text_encoder(folder, dtype="fp32")


def test_model_max_length_is_bounded():
    with pytest.raises(ConfigError, match="model_max_length = 100000000: 1 to 4096 tokens"):
        load_text_encoder(tiny_t5_dir(), dtype="fp32", model_max_length=10**8)
