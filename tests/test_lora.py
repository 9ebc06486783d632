"""LoRA adapters: targets per release, zero-init, apply = merge, file format, refusals."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from test_stdit_features import tiny_inputs

from sora_core.checkpoints import build_model
from sora_core.errors import CheckpointError, ConfigError
from sora_core.lora import (
    LoRAConfig,
    add_lora,
    apply_lora,
    merge_lora,
    read_lora,
    remove_lora,
    save_lora,
    target_paths,
)

TINY = {"hidden_size": 48, "depth": 2, "num_heads": 4, "caption_channels": 8,
        "model_max_length": 4}  # fmt: skip
MODELS = {
    "STDiT": {**TINY, "input_size": (3, 4, 6)},
    "STDiT2": TINY,
    "STDiT3": TINY,
}


def tiny(model_type: str = "STDiT3", seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model({"type": model_type, **MODELS[model_type], **overrides}).eval()


def inputs() -> dict:
    """The shared tiny inputs plus the sizes STDiT2 also reads."""
    return {**tiny_inputs(), "num_frames": torch.tensor([3.0]), "ar": torch.tensor([32 / 48])}


def run(model) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs())


def trained(model, config=None, seed=3):
    """Adapters with random (non-zero) B, as if trained."""
    attached = add_lora(model, config or {"rank": 4, "alpha": 8})
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in attached.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    return attached


@pytest.mark.parametrize("model_type", list(MODELS))
def test_each_family_names_the_expected_layers(model_type):
    model = tiny(model_type)
    paths = {family: target_paths(model, [family]) for family in
             ("attn", "spatial_attn", "temporal_attn", "cross_attn", "mlp")}  # fmt: skip
    blocks = "spatial_blocks" if model_type == "STDiT3" else "blocks"
    assert f"{blocks}.0.attn.qkv" in paths["spatial_attn"]
    assert f"{blocks}.1.cross_attn.kv_linear" in paths["cross_attn"]
    all_blocks = ("spatial_blocks", "temporal_blocks") if model_type == "STDiT3" else ("blocks",)
    mlp = {f"{name}.{i}.mlp.{fc}" for name in all_blocks for i in range(2) for fc in ("fc1", "fc2")}
    assert set(paths["mlp"]) == mlp
    temporal = "temporal_blocks.0.attn.qkv" if model_type == "STDiT3" else "blocks.0.attn_temp.qkv"
    assert temporal in paths["temporal_attn"] and temporal not in paths["spatial_attn"]
    assert set(paths["attn"]) == set(paths["spatial_attn"]) | set(paths["temporal_attn"])
    assert not any("y_embedder" in p or "t_block" in p for p in sum(paths.values(), []))


@pytest.mark.parametrize("model_type", list(MODELS))
def test_fresh_adapters_leave_the_output_unchanged(model_type):
    model = tiny(model_type)
    before = run(model)
    add_lora(model, {"rank": 4, "targets": ["attn", "cross_attn", "mlp"]})
    assert torch.equal(run(model), before)


def test_only_adapter_tensors_require_gradients_and_change_in_training():
    model = tiny()
    base = {key: value.clone() for key, value in model.state_dict().items()}
    attached = add_lora(model, {"rank": 2, "targets": ["attn"]})
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    assert trainable and all(".adapters." in name for name in trainable)
    assert len(attached.parameters()) == 2 * len(target_paths(model, ["attn"]))
    optimizer = torch.optim.AdamW(attached.parameters(), lr=1e-2)
    model.train()
    for _ in range(2):
        optimizer.zero_grad()
        model(**inputs()).square().mean().backward()
        optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(after[key], value) for key, value in base.items())
    assert any(not torch.equal(p, torch.zeros_like(p)) for p in attached.parameters()[1::2])


@pytest.mark.parametrize("model_type", list(MODELS))
def test_merged_adapter_equals_the_applied_one(model_type, tmp_path):
    source = tiny(model_type)
    path = save_lora(trained(source).weights(), tmp_path / "lora.safetensors")
    weights = read_lora(path)

    base_output = run(tiny(model_type))
    applied = tiny(model_type)
    apply_lora(applied, weights, strength=0.7)
    merged = tiny(model_type)
    merge_lora(merged, weights, strength=0.7)
    assert not torch.allclose(run(applied), base_output, atol=1e-4)
    torch.testing.assert_close(run(merged), run(applied), atol=1e-5, rtol=1e-5)


def test_adapters_stack_and_remove_restores_the_base(tmp_path):
    model = tiny()
    base_output = run(model)
    first = trained(tiny(), seed=3).weights()
    second = trained(tiny(), {"rank": 2, "targets": ["mlp"]}, seed=4).weights()
    apply_lora(model, first)
    one = run(model)
    apply_lora(model, second, strength=0.5)
    both = run(model)
    merged = tiny()
    merge_lora(merged, first)
    merge_lora(merged, second, strength=0.5)
    assert not torch.allclose(one, both, atol=1e-4)
    torch.testing.assert_close(run(merged), both, atol=1e-5, rtol=1e-5)
    remove_lora(model)
    assert torch.equal(run(model), base_output)
    assert set(model.state_dict()) == set(tiny().state_dict())


def test_file_is_peft_keyed_safetensors_with_settings_and_base_model(tmp_path):
    model = tiny()
    attached = trained(model, {"rank": 4, "alpha": 8, "dropout": 0.1, "targets": ["cross_attn"]})
    path = save_lora(attached.weights(), tmp_path / "lora.safetensors")

    state = load_file(str(path))  # plain safetensors, nothing of ours
    key = "base_model.model.spatial_blocks.0.cross_attn.q_linear"
    assert state[f"{key}.lora_A.weight"].shape == (4, 48)
    assert state[f"{key}.lora_B.weight"].shape == (48, 4)
    assert all(k.endswith((".lora_A.weight", ".lora_B.weight")) for k in state)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert (metadata["rank"], float(metadata["alpha"]), float(metadata["dropout"])) == (
        "4", 8.0, 0.1,
    )  # fmt: skip
    assert json.loads(metadata["targets"]) == ["cross_attn"]
    base = json.loads(metadata["base_model"])
    assert base["release"] == "1.2" and base["hidden_size"] == 48

    loaded = read_lora(path)
    assert loaded.config == LoRAConfig(rank=4, alpha=8, dropout=0.1, targets=("cross_attn",))
    assert loaded.base == base
    for layer, (lora_a, lora_b) in attached.weights().layers.items():
        assert torch.equal(loaded.layers[layer][0], lora_a)
        assert torch.equal(loaded.layers[layer][1], lora_b)


def test_adapters_stay_fp32_over_a_bf16_base():
    model = tiny()
    attached = add_lora(model, {"rank": 2}, base_dtype="bf16")
    assert model.spatial_blocks[0].attn.qkv.weight.dtype == torch.bfloat16
    assert all(param.dtype == torch.float32 for param in attached.parameters())
    model.train()
    model(**inputs()).float().square().mean().backward()
    assert all(param.grad is not None for param in attached.parameters())


@pytest.mark.parametrize(
    "other,message",
    [
        ({"model_type": "STDiT2"}, r"trained on Open-Sora 1\.2 .* is Open-Sora 1\.1"),
        ({"hidden_size": 96}, "hidden_size"),
        ({"depth": 3}, "depth"),
    ],
)
def test_adapter_is_refused_on_a_transformer_it_does_not_fit(other, message, tmp_path):
    path = save_lora(trained(tiny()).weights(), tmp_path / "lora.safetensors")
    model_type = other.pop("model_type", "STDiT3")
    target = tiny(model_type, **other)
    before = {key: value.clone() for key, value in target.state_dict().items()}
    with pytest.raises(CheckpointError, match=message):
        apply_lora(target, read_lora(path))
    with pytest.raises(CheckpointError, match=message):
        merge_lora(target, read_lora(path))
    after = target.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], v) for k, v in before.items())


def test_a_peft_file_without_our_metadata_is_checked_by_shape(tmp_path):
    state = trained(tiny()).weights().state_dict()
    wide = {key: torch.zeros(value.shape[0] * 2 if "lora_B" in key else value.shape[0],
                             value.shape[1] * 2 if "lora_A" in key else value.shape[1])
            for key, value in state.items()}  # fmt: skip
    save_file(wide, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="does not fit the transformer's widths"):
        apply_lora(tiny(), read_lora(tmp_path / "other.safetensors"))
    save_file({"blocks.0.attn.weight": torch.zeros(2, 2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="not an Open-Sora LoRA file"):
        read_lora(tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_lora(tmp_path / "missing.safetensors")


@pytest.mark.parametrize(
    "config,field",
    [
        ({"rank": 0}, "lora.rank"),
        ({"alpha": -1}, "lora.alpha"),
        ({"dropout": 1.0}, "lora.dropout"),
        ({"targets": ["attention"]}, "lora.targets"),
        ({"rnak": 4}, "unknown keys"),
    ],
)
def test_bad_lora_config_names_the_field(config, field):
    with pytest.raises(ConfigError, match=field):
        LoRAConfig.from_dict(config)


@pytest.mark.parametrize(
    "metadata,message",
    [
        ({"base_model": "[" * 100_000}, "damaged base_model metadata"),
        ({"base_model": "[1, 2]"}, "base_model metadata is not a JSON object"),
        ({"targets": "[" * 100_000}, "damaged LoRA metadata"),
        ({"targets": "7"}, "damaged LoRA metadata"),
    ],
)
def test_damaged_header_metadata_is_a_named_error(tmp_path, metadata, message):
    state = trained(tiny()).weights().state_dict()
    save_file(state, str(tmp_path / "lora.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError, match=message):
        read_lora(tmp_path / "lora.safetensors")
