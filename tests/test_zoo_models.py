"""DiT, Latte, PixArt-α/Σ beyond the golden cases: registry factories and input errors."""

import pytest
import torch

from sora_core.checkpoints import build_model
from sora_core.errors import ConfigError, PromptError, VideoShapeError
from sora_core.models import FACTORIES

TINY = {"depth": 2, "hidden_size": 48, "num_heads": 4}


@pytest.mark.parametrize(
    "name, cls, hidden, patch",
    [
        ("DiT-XL/2", "DiT", 1152, (1, 2, 2)),
        ("DiT-XL/2x2", "DiT", 1152, (2, 2, 2)),
        ("Latte-XL/2", "Latte", 1152, (1, 2, 2)),
        ("Latte-XL/2x2", "Latte", 1152, (2, 2, 2)),
        ("PixArt-XL/2", "PixArt", 1152, (1, 2, 2)),
        ("PixArt-1B/2", "PixArt", 1872, (1, 2, 2)),
        ("PixArtMS-XL/2", "PixArtMS", 1152, (1, 2, 2)),
        ("PixArt-Sigma-XL/2", "PixArt_Sigma", 1152, (1, 2, 2)),
    ],
)
def test_registry_factories_build_reference_sizes(name, cls, hidden, patch):
    assert name in FACTORIES
    extra = {"condition": "label_1000", "input_size": (2, 32, 32)} if "DiT" in name else {}
    with torch.device("meta"):
        model = build_model({"type": name, **extra})
    assert type(model).__name__ == cls
    assert (model.hidden_size, model.depth, model.patch_size) == (hidden, 28, patch)
    assert model.x_embedder.proj.weight.shape[2:] == patch


def _dit(condition="label_10", cls="DiT", **extra):
    config = {"type": cls, "input_size": (2, 8, 8), "condition": condition, **TINY, **extra}
    return build_model(config).eval()


def test_class_conditional_dit_has_null_class_row_and_checks_ids():
    model = _dit()
    assert model.y_embedder.embedding_table.num_embeddings == 11  # 10 classes + null
    x = torch.randn(2, 4, 2, 8, 8)
    with torch.no_grad():
        assert model(x, torch.tensor([5.0, 5.0]), torch.tensor([3, 10])).shape == (2, 8, 2, 8, 8)
    with pytest.raises(PromptError, match="null class is 10"):
        model(x, torch.tensor([5.0, 5.0]), torch.tensor([3, 11]))
    with pytest.raises(VideoShapeError, match="integer class ids"):
        model(x, torch.tensor([5.0, 5.0]), torch.tensor([0.5, 1.0]))


def test_dit_rejects_bad_condition_and_non_square_sizes():
    with pytest.raises(ConfigError, match="condition: 'label_x'"):
        _dit(condition="label_x")
    with pytest.raises(ConfigError, match="square latents"):
        _dit(input_size=(2, 8, 12))


@pytest.mark.parametrize("cls", ["DiT", "Latte", "PixArt"])
def test_fixed_size_models_name_the_latent_size_they_need(cls):
    if cls == "PixArt":
        model = build_model(
            {
                "type": cls,
                "input_size": (1, 8, 8),
                "caption_channels": 16,
                "model_max_length": 4,
                **TINY,
            }
        )
        y = torch.randn(1, 1, 4, 16)
    else:
        model = _dit(cls=cls)
        y = torch.tensor([1])
    with pytest.raises(VideoShapeError, match="fixed input_size"):
        model(torch.randn(1, 4, 1 if cls == "PixArt" else 2, 8, 12), torch.tensor([3.0]), y)


def _pixart(cls, **extra):
    config = {
        "type": cls,
        "input_size": (1, 8, 8),
        "caption_channels": 16,
        "model_max_length": 4,
        **TINY,
        **extra,
    }
    return build_model(config).eval()


def test_pixartms_serves_other_sizes_and_requires_size_info():
    model = _pixart("PixArtMS")
    y, t = torch.randn(1, 1, 4, 16), torch.tensor([10.0])
    info = {"hw": torch.tensor([[96.0, 64.0]]), "ar": torch.tensor([[1.5]])}
    with torch.no_grad():
        out = model(torch.randn(1, 4, 1, 12, 8), t, y, data_info=info)
        same = model(torch.randn(1, 4, 1, 12, 8), t, y, hw=info["hw"], ar=info["ar"])
    assert out.shape == same.shape == (1, 8, 1, 12, 8)
    with pytest.raises(VideoShapeError, match=r"data_info\['hw'\] is required"):
        model(torch.randn(1, 4, 1, 8, 8), t, y)


def test_pixart_sigma_kv_compression_limits():
    with pytest.raises(ConfigError, match="only 'conv'"):
        _pixart(
            "PixArt_Sigma",
            kv_compress_config={"sampling": "ave", "scale_factor": 2, "kv_compress_layer": [0]},
        )
    compress = {"sampling": "conv", "scale_factor": 2, "kv_compress_layer": [1]}
    model = _pixart("PixArt_Sigma", input_size=(2, 8, 8), kv_compress_config=compress)
    assert model.blocks[1].attn.sr.stride == (2, 2) and not hasattr(model.blocks[0].attn, "sr")
    with pytest.raises(VideoShapeError, match="single images"):
        model(torch.randn(1, 4, 2, 8, 8), torch.tensor([10.0]), torch.randn(1, 1, 4, 16))


def test_training_drops_labels_to_the_null_class():
    model = _dit(class_dropout_prob=1.0).train()
    x = torch.randn(2, 4, 2, 8, 8)
    torch.manual_seed(0)
    trained = model(x, torch.tensor([5.0, 5.0]), torch.tensor([3, 4]))
    null = model.eval()(x, torch.tensor([5.0, 5.0]), torch.tensor([10, 10]))
    torch.testing.assert_close(trained, null)


@pytest.mark.parametrize("cls", ["DiT", "Latte", "PixArt", "PixArtMS"])
def test_set_input_size_equals_building_for_that_size(cls):
    text = cls.startswith("PixArt")
    extra = {"caption_channels": 16, "model_max_length": 4} if text else {"condition": "label_3"}
    torch.manual_seed(0)
    small = build_model({"type": cls, "input_size": (2, 4, 4), **TINY, **extra}).eval()
    large = build_model({"type": cls, "input_size": (2, 8, 8), **TINY, **extra}).eval()
    large.load_state_dict(
        small.state_dict() | {k: v for k, v in large.state_dict().items() if "pos_embed" in k}
    )
    small.set_input_size((2, 8, 8))
    x, t = torch.randn(1, 4, 2, 8, 8), torch.tensor([20.0])
    y = torch.randn(1, 1, 4, 16) if text else torch.tensor([2])
    kwargs = {"hw": [[64.0, 64.0]], "ar": [[1.0]]} if cls == "PixArtMS" else {}
    with torch.no_grad():
        torch.testing.assert_close(small(x, t, y, **kwargs), large(x, t, y, **kwargs))
    if not text:
        with pytest.raises(ConfigError, match="square latents"):
            small.set_input_size((2, 8, 12))
