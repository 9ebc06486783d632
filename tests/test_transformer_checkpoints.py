"""`load_transformer`: the reference-written checkpoint fixtures, every format written here
from small random models (auto-detected), fp8 storage and the error paths."""

import json
from collections import OrderedDict

import pytest
import torch
from safetensors.torch import save_file

from golden import assert_close, checkpoint_entries, fixtures_dir, read_tensors
from sora_core.checkpoints import build_model, load_transformer
from sora_core.errors import CheckpointError, ConfigError


def probe_inputs(probe: dict) -> dict:
    return {k.removeprefix("input."): v for k, v in probe.items() if k.startswith("input.")}


def entry_id(entry: dict) -> str:
    return entry["path"]


# --- the reference's own files --------------------------------------------------------------
@pytest.mark.parity
@pytest.mark.parametrize("entry", checkpoint_entries("STDiT"), ids=entry_id)
def test_fixture_checkpoint_loads_without_config_and_matches_probe(entry):
    if entry["path"].startswith("MISSING-INDEX:"):
        pytest.fail(f"fixture index missing: {entry['path']}")
    model = load_transformer(fixtures_dir() / "checkpoints" / entry["path"])
    probe = read_tensors(f"checkpoints/{entry['probe']}")
    assert model.release == entry["release"].split()[-1]  # "Open-Sora 1.2"
    assert not model.training
    with torch.no_grad():
        out = model(**probe_inputs(probe))
    assert_close(out, probe["output.out"], what=entry["path"])


@pytest.mark.parity
@pytest.mark.parametrize("entry", checkpoint_entries("STDiT"), ids=entry_id)
def test_fixture_checkpoint_alternative_probe_outputs(entry):
    # 1.1: the order v1.2.0 uses for a config without qk_norm_legacy; 1.0: the v1.0.0 call.
    probe = read_tensors(f"checkpoints/{entry['probe']}")
    path = fixtures_dir() / "checkpoints" / entry["path"]
    inputs = probe_inputs(probe)
    if "output.out_qk_norm_legacy_false" in probe:
        model, expected = (
            load_transformer(path, config={"qk_norm_legacy": False}),
            probe["output.out_qk_norm_legacy_false"],
        )
    elif "output.out_no_x_mask" in probe:
        model, expected = load_transformer(path), probe["output.out_no_x_mask"]
        inputs.pop("x_mask")
    else:
        assert set(probe) >= {"output.out"}
        return
    with torch.no_grad():
        assert_close(model(**inputs), expected, what=entry["path"])


# --- formats written from small random models -----------------------------------------------
TINY = {"hidden_size": 64, "depth": 2, "num_heads": 4, "caption_channels": 16}
MODELS = {
    "1.0": {
        "type": "STDiT",
        **TINY,
        "model_max_length": 6,
        "input_size": (3, 6, 10),
        "space_scale": 0.5,
        "time_scale": 2 / 3,
    },
    "1.1": {
        "type": "STDiT2",
        **TINY,
        "hidden_size": 48,
        "model_max_length": 7,
        "qk_norm": True,
        "qk_norm_legacy": True,
        "input_sq_size": 512,
    },
    "1.2": {"type": "STDiT3", **TINY, "model_max_length": 5},
}


def tiny_inputs(version: str) -> dict:
    generator = torch.Generator().manual_seed(7)
    length = MODELS[version]["model_max_length"]
    inputs = {
        "x": torch.randn(2, 4, 3, 6, 10, generator=generator),
        "timestep": torch.tensor([900.0, 900.0]),
        "y": torch.randn(2, 1, length, 16, generator=generator),
        "mask": torch.tensor([[1] * (length - 2) + [0, 0]]),
        "x_mask": torch.tensor([[False, True, True]] * 2),
    }
    sizes = {"height": [48.0], "width": [80.0], "fps": [24.0], "num_frames": [3.0], "ar": [0.6]}
    inputs.update({key: torch.tensor(value) for key, value in sizes.items()})
    return inputs


@pytest.fixture(params=sorted(MODELS), scope="module")
def random_model(request):
    torch.manual_seed(0)
    return build_model(MODELS[request.param]).eval()


def forward(model, version):
    with torch.no_grad():
        return model(**tiny_inputs(version))


def hf_config(model) -> dict:
    config = {k: v for k, v in model.config.items() if k != "dtype"}
    return {"architectures": [type(model).__name__], "model_type": type(model).__name__, **config}


def write_hf(model, folder, sharded=False):
    folder.mkdir()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    (folder / "config.json").write_text(json.dumps(hf_config(model)))
    if not sharded:
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return folder
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}  # fmt: skip
    for name, names in shards.items():
        save_file({k: state[k] for k in names}, str(folder / name))
    weight_map = {key: name for name, names in shards.items() for key in names}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


@pytest.mark.parametrize(
    "layout", ["hf_folder", "hf_sharded", "single_safetensors", "ema_pt", "wrapped_pth"]
)
def test_written_format_loads_back_with_auto_detection(random_model, layout, tmp_path):
    version = random_model.release
    state = random_model.state_dict()
    if layout == "hf_folder":
        path = write_hf(random_model, tmp_path / "model")
    elif layout == "hf_sharded":
        path = write_hf(random_model, tmp_path / "model", sharded=True)
    elif layout == "single_safetensors":
        path = tmp_path / "model.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif layout == "ema_pt":
        path = tmp_path / "ema.pt"
        torch.save(OrderedDict(state), path)
    else:  # a DDP-wrapped training checkpoint
        path = tmp_path / "checkpoint.pth"
        torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "step": 3}, path)
    loaded = load_transformer(path)
    assert loaded.release == version
    for key in ("hidden_size", "depth", "num_heads", "caption_channels", "model_max_length"):
        assert loaded.config[key] == random_model.config[key], key
    assert_close(forward(loaded, version), forward(random_model, version), atol=0, rtol=0)


def test_stdit_pth_detects_size_and_scales_from_position_tables(tmp_path):
    model = build_model(MODELS["1.0"]).eval()
    torch.save({"ema": model.state_dict()}, tmp_path / "v10.pth")
    loaded = load_transformer(tmp_path / "v10.pth")
    assert loaded.config["input_size"] == (3, 6, 10)
    assert loaded.config["space_scale"] == 0.5
    assert loaded.config["time_scale"] == pytest.approx(2 / 3)
    assert torch.equal(loaded.pos_embed, model.pos_embed)
    assert torch.equal(loaded.pos_embed_temporal, model.pos_embed_temporal)


def test_stdit_pth_without_position_tables_recomputes_them(tmp_path):
    model = build_model(MODELS["1.0"]).eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("pos_embed")}
    torch.save(state, tmp_path / "v10.pth")
    size = {k: MODELS["1.0"][k] for k in ("input_size", "space_scale", "time_scale")}
    loaded = load_transformer(tmp_path / "v10.pth", config=size)
    assert_close(forward(loaded, "1.0"), forward(model, "1.0"), atol=0, rtol=0)


def test_null_caption_is_padded_with_its_last_row_for_a_longer_model(tmp_path):
    model = build_model(MODELS["1.2"]).eval()
    save_file(model.state_dict(), str(tmp_path / "m.safetensors"))
    loaded = load_transformer(tmp_path / "m.safetensors", config={"model_max_length": 8})
    null = loaded.y_embedder.y_embedding
    assert null.shape == (8, 16)
    assert torch.equal(null[:5], model.y_embedder.y_embedding)
    assert torch.equal(null[5:], model.y_embedder.y_embedding[-1:].expand(3, -1))


def test_stdit2_defaults_to_legacy_qk_order_unless_config_json_says_otherwise(tmp_path):
    model = build_model(MODELS["1.1"])
    config = hf_config(model)
    config.pop("qk_norm_legacy")  # the real 1.1 hub config.json has no such field
    folder = write_hf(model, tmp_path / "hub")
    (folder / "config.json").write_text(json.dumps(config))
    assert load_transformer(folder).config["qk_norm_legacy"] is True
    (folder / "config.json").write_text(json.dumps({**config, "qk_norm_legacy": False}))
    assert load_transformer(folder).config["qk_norm_legacy"] is False


def test_dtype_casts_every_floating_tensor(random_model, tmp_path):
    save_file(random_model.state_dict(), str(tmp_path / "m.safetensors"))
    loaded = load_transformer(tmp_path / "m.safetensors", dtype="bf16")
    tensors = list(loaded.parameters()) + list(loaded.buffers())
    assert {t.dtype for t in tensors} == {torch.bfloat16}
    assert all(t.device.type == "cpu" for t in tensors)  # nothing left on the meta device


def test_fp8_storage_round_trip(random_model, tmp_path):
    version = random_model.release
    save_file(random_model.state_dict(), str(tmp_path / "m.safetensors"))
    bf16 = load_transformer(tmp_path / "m.safetensors", dtype="bf16")
    fp8 = load_transformer(tmp_path / "m.safetensors", dtype="fp8")
    linear = fp8.final_layer.linear.weight
    assert linear.dtype == torch.float8_e4m3fn
    assert fp8.final_layer.scale_shift_table.dtype == torch.bfloat16
    assert fp8.compute_dtype == torch.bfloat16

    def weight_bytes(m):
        return sum(p.numel() * p.element_size() for p in m.parameters())

    assert weight_bytes(fp8) < 0.6 * weight_bytes(bf16)
    reference = forward(random_model, version)
    out = forward(fp8, version)
    assert (out - reference).norm() / reference.norm() < 0.1
    # fp8 weights written back to a file load as fp8 and give the same numbers.
    save_file(fp8.state_dict(), str(tmp_path / "fp8.safetensors"))
    again = load_transformer(tmp_path / "fp8.safetensors")
    assert again.final_layer.linear.weight.dtype == torch.float8_e4m3fn
    assert torch.equal(forward(again, version), out)


def test_build_model_from_pretrained_uses_the_file_sizes():
    folder = fixtures_dir() / "checkpoints" / "stdit3_hf"
    model = build_model({"type": "STDiT3-XL/2", "from_pretrained": str(folder), "qk_norm": True})
    assert model.hidden_size == json.loads((folder / "config.json").read_text())["hidden_size"]
    assert model.release == "1.2"


# --- errors ---------------------------------------------------------------------------------
@pytest.fixture
def stdit3_file(tmp_path):
    model = build_model(MODELS["1.2"])
    path = tmp_path / "m.safetensors"
    save_file(model.state_dict(), str(path))
    return path, dict(model.state_dict())


def test_vae_checkpoint_is_named_as_such():
    with pytest.raises(CheckpointError, match="VAE checkpoint, not a transformer"):
        load_transformer(fixtures_dir() / "checkpoints" / "vae_v12_single.safetensors")


def test_t5_checkpoint_is_named_as_such():
    with pytest.raises(CheckpointError, match="T5 text-encoder checkpoint"):
        load_transformer(fixtures_dir() / "text" / "tiny_t5")


def test_unrelated_weights_are_rejected(tmp_path):
    save_file({"conv.weight": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not an Open-Sora transformer.*conv.weight"):
        load_transformer(tmp_path / "other.safetensors")


def test_missing_key_is_named(stdit3_file, tmp_path):
    _, state = stdit3_file
    del state["temporal_blocks.1.mlp.fc2.bias"]
    save_file(state, str(tmp_path / "cut.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"missing keys \(1\).*temporal_blocks.1.mlp.fc2.bias"
    ):
        load_transformer(tmp_path / "cut.safetensors")


def test_unexpected_key_is_named(stdit3_file, tmp_path):
    _, state = stdit3_file
    state["spatial_blocks.0.extra.weight"] = torch.zeros(3)
    save_file(state, str(tmp_path / "extra.safetensors"))
    with pytest.raises(CheckpointError, match=r"unexpected keys.*spatial_blocks.0.extra.weight"):
        load_transformer(tmp_path / "extra.safetensors")


def test_shape_mismatch_is_named(stdit3_file, tmp_path):
    _, state = stdit3_file
    state["spatial_blocks.1.cross_attn.q_linear.bias"] = torch.zeros(32)
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError, match=r"shape mismatches.*q_linear.bias: file \(32,\)"):
        load_transformer(tmp_path / "bad.safetensors")


def test_wrong_release_request_is_refused(stdit3_file):
    path, _ = stdit3_file
    with pytest.raises(CheckpointError, match="Open-Sora 1.2 transformer.*release 1.1"):
        load_transformer(path, config={"type": "STDiT2-XL/2"})


def test_unknown_config_key_is_named(stdit3_file):
    path, _ = stdit3_file
    with pytest.raises(ConfigError, match="unknown config keys \\['hidden_sise'\\]"):
        load_transformer(path, config={"hidden_sise": 8})


def test_damaged_and_absent_files_raise_checkpoint_error(stdit3_file, tmp_path):
    path, _ = stdit3_file
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        load_transformer(damaged)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_transformer(tmp_path / "absent.safetensors")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depth": 100_000}, r"depth = 100000 \(the weights have \d+\)"),
        ({"hidden_size": 4096}, "hidden_size = 4096"),
        ({"model_max_length": 10**8}, "model_max_length = 100000000; expected 1 to 4096"),
    ],
)
def test_config_json_is_checked_against_the_weights_before_building(tmp_path, change, message):
    model = build_model(MODELS["1.1"])
    folder = write_hf(model, tmp_path / "hub")
    (folder / "config.json").write_text(json.dumps({**hf_config(model), **change}))
    with pytest.raises(CheckpointError, match=message):
        load_transformer(folder)
    with pytest.raises(CheckpointError, match=message):  # overrides are held to the same
        load_transformer(folder / "model.safetensors", config=change)
