"""Model-level behaviour beyond the fixtures: release key layouts, attention dispatch,
gradient checkpointing, dtype rounding points and input errors."""

import pytest
import torch

from sora_core import kernels
from sora_core.checkpoints import build_model
from sora_core.errors import ConfigError, VideoShapeError
from sora_core.kernels import attention_backends

# Spec §7.1 (XL/2 key lists of the releases): keys and stored values.
RELEASE_LAYOUTS = [
    ({"type": "STDiT-XL/2", "input_size": (16, 64, 64)}, 550, 761_310_368),
    ({"type": "STDiT2-XL/2", "qk_norm": True, "model_max_length": 200}, 707, 768_271_300),
    ({"type": "STDiT3-XL/2"}, 973, 1_208_872_772),
]


@pytest.mark.parametrize("config,keys,values", RELEASE_LAYOUTS, ids=lambda v: str(v)[:24])
def test_xl2_state_dict_matches_the_release_layout(config, keys, values):
    with torch.device("meta"):
        model = build_model(config)
    state = model.state_dict()
    assert len(state) == keys
    assert sum(t.numel() for t in state.values()) == values
    assert state["y_embedder.y_embedding"].shape[1] == 4096


def tiny_stdit3(**overrides):
    torch.manual_seed(0)
    config = {"type": "STDiT3", "hidden_size": 32, "depth": 2, "num_heads": 4,
              "caption_channels": 8, "model_max_length": 4, **overrides}  # fmt: skip
    return build_model(config)


def tiny_inputs(batch=2):
    generator = torch.Generator().manual_seed(1)
    return {
        "x": torch.randn(batch, 4, 3, 4, 6, generator=generator),
        "timestep": torch.full((batch,), 999.0),
        "y": torch.randn(batch, 1, 4, 8, generator=generator),
        "mask": torch.tensor([[1, 1, 0, 0]]),
        "height": torch.tensor([32.0]),
        "width": torch.tensor([48.0]),
        "fps": torch.tensor([24.0]),
    }


def test_model_exposes_what_the_pipeline_reads():
    model = tiny_stdit3()
    assert model.release == "1.2"
    assert (model.in_channels, model.out_channels, model.patch_size) == (4, 8, (1, 2, 2))
    assert model.config["hidden_size"] == 32
    assert model.y_embedder.y_embedding.shape == (4, 8)


def test_only_valid_caption_tokens_are_projected():
    """Padding tokens are never attended to, so the caption MLP never sees them."""
    model = tiny_stdit3().eval()
    rows = []
    model.y_embedder.y_proj.fc1.register_forward_hook(lambda m, args, out: rows.append(args[0]))
    inputs = tiny_inputs()  # mask [1, 1, 0, 0] tiled over the CFG batch of 2
    with torch.no_grad():
        model(**inputs)
    (projected,) = rows
    assert projected.shape[:-1] == (1, 4)
    torch.testing.assert_close(projected[0, :2], inputs["y"][0, 0, :2])


def test_flash_is_chosen_only_on_cuda_half_precision_with_the_package(monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    monkeypatch.setattr(attention_backends, "flash_attn_available", lambda: True)
    assert kernels.resolve_backend("auto", cuda, torch.bfloat16) == "flash"
    assert kernels.resolve_backend("flash", cuda, torch.float16) == "flash"
    assert kernels.resolve_backend("flash", cuda, torch.float32) == "sdpa"
    assert kernels.resolve_backend("flash", cpu, torch.bfloat16) == "sdpa"
    assert kernels.resolve_backend("math", cuda, torch.bfloat16) == "math"
    monkeypatch.setattr(attention_backends, "flash_attn_available", lambda: False)
    assert kernels.resolve_backend("auto", cuda, torch.bfloat16) == "sdpa"
    with pytest.raises(ConfigError, match="attention backend"):
        kernels.resolve_backend("xformers", cpu, torch.float32)


def test_enable_flash_attn_flag_selects_auto_without_changing_results():
    plain, flagged = tiny_stdit3(), tiny_stdit3(enable_flash_attn=True)
    assert flagged.spatial_blocks[0].attn.backend == "auto"
    assert plain.spatial_blocks[0].attn.backend == "sdpa"
    with torch.no_grad():
        assert torch.equal(plain.eval()(**tiny_inputs()), flagged.eval()(**tiny_inputs()))


def test_packed_cross_attention_equals_per_sample_attention():
    generator = torch.Generator().manual_seed(2)
    q = torch.randn(3, 5, 2, 4, generator=generator)
    lens = [1, 4, 2]
    k, v = torch.randn(7, 2, 4, generator=generator), torch.randn(7, 2, 4, generator=generator)
    out = kernels.packed_cross_attention(q, k, v, lens, "sdpa")
    for b, (ks, vs) in enumerate(zip(k.split(lens), v.split(lens))):
        scores = (q[b].transpose(0, 1) @ ks.permute(1, 2, 0)) * 4**-0.5
        expected = (scores.softmax(-1) @ vs.transpose(0, 1)).transpose(0, 1)
        torch.testing.assert_close(out[b], expected, atol=1e-6, rtol=1e-6)


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for enabled in (False, True):
        model = tiny_stdit3().train().enable_gradient_checkpointing(enabled)
        model.y_embedder.uncond_prob = 0.0
        model(**tiny_inputs()).square().mean().backward()
        grads.append(model.spatial_blocks[0].attn.qkv.weight.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)
    assert build_model({"type": "STDiT3", "hidden_size": 32, "depth": 1, "num_heads": 4,
                        "grad_checkpoint": True}).grad_checkpointing  # fmt: skip


def test_bf16_model_rounds_timesteps_like_the_reference():
    model = tiny_stdit3().eval().to(torch.bfloat16)
    inputs = tiny_inputs()
    with torch.no_grad():
        at_999 = model(**inputs)
        at_1000 = model(**{**inputs, "timestep": torch.full((2,), 1000.0)})
    assert torch.equal(at_999, at_1000)  # 999 is 1000 in bf16, as in the reference


def test_missing_size_argument_is_named():
    inputs = tiny_inputs()
    del inputs["fps"]
    with pytest.raises(VideoShapeError, match="fps is required"):
        tiny_stdit3()(**inputs)


def test_wrong_latent_channels_are_named():
    inputs = tiny_inputs()
    inputs["x"] = inputs["x"][:, :3]
    with pytest.raises(VideoShapeError, match=r"expected \[B, 4, T, H, W\]"):
        tiny_stdit3()(**inputs)


def test_stdit_refuses_a_latent_of_another_size():
    model = build_model({"type": "STDiT", "hidden_size": 32, "depth": 1, "num_heads": 4,
                         "caption_channels": 8, "model_max_length": 4, "input_size": (3, 4, 4)})  # fmt: skip
    with pytest.raises(VideoShapeError, match="fixed input_size"):
        model(**tiny_inputs())


@pytest.mark.parametrize(
    "config,message",
    [
        ({"type": "STDiT3", "hiden_size": 8}, r"unknown config keys \['hiden_size'\]"),
        ({"type": "STDiT4"}, "unknown model 'STDiT4'"),
        ({"hidden_size": 8}, "type: missing"),
        ({"type": "STDiT2", "hidden_size": 64, "num_heads": 4}, "divisible by 3"),
        ({"type": "STDiT3", "hidden_size": 30, "num_heads": 4}, "does not divide"),
    ],
)
def test_bad_configs_are_named(config, message):
    with pytest.raises(ConfigError, match=message):
        build_model(config)
