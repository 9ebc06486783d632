"""The Open-Sora LoRA node outside ComfyUI: it lists models/loras, changes what the sampler
makes, stacks, leaves the input model untouched, and refuses adapters that do not fit."""

import shutil

import pytest
import torch
from pack_loader import pack_module
from tiny_models import TEXT_ENCODER, TRANSFORMER, VAE

from sora_core.checkpoints import load_transformer
from sora_core.errors import CheckpointError
from sora_core.lora import add_lora, save_lora

loaders = pack_module("loaders")
lora_node = pack_module("lora")
text_encode = pack_module("text_encode")
sampling = pack_module("sampling")
paths = pack_module("paths")


def write_adapter(path, transformer_file, seed: int, **targets):
    """An adapter with random weights for the transformer in `transformer_file`."""
    model = load_transformer(transformer_file, dtype="fp32")
    torch.manual_seed(seed)
    attached = add_lora(model, {"rank": 4, "alpha": 4, **targets})
    with torch.no_grad():
        for param in attached.parameters():
            param.normal_(0, 0.5)
    return save_lora(attached.weights(), path)


@pytest.fixture(scope="module")
def models_dir(tiny_models_dir):
    folder = tiny_models_dir
    transformer = folder / "opensora" / TRANSFORMER
    write_adapter(folder / "loras" / "style.safetensors", transformer, seed=1)
    write_adapter(folder / "loras" / "motion.safetensors", transformer, seed=2, targets=["mlp"])
    shutil.copyfile(transformer, folder / "loras" / "not_a_lora.safetensors")
    return folder


@pytest.fixture(scope="module")
def models(models_dir):
    (model,) = loaders.load_transformer(TRANSFORMER, "fp32", "sdpa")
    (vae,) = loaders.load_vae(VAE, "default", 0)
    (t5,) = loaders.load_text_encoder(TEXT_ENCODER, "fp32", "default", 300)
    conditioning = text_encode.encode_prompt(t5, "a red fox", "1.2", 6.5, -1.0, "none")[0]
    return model, vae, conditioning


def sample(model, models) -> torch.Tensor:
    _, vae, conditioning = models
    (latent,) = sampling.sample_clip(
        model, vae, conditioning, "rflow", 2, 7.0, 42, "240p", "9:16", 32, 32, 1, 0.0, 24.0
    )
    return latent["samples"]


def test_lora_choices_come_from_models_loras(models_dir):
    assert paths.model_choices("lora") == [
        "motion.safetensors",
        "not_a_lora.safetensors",
        "style.safetensors",
    ]


def test_adapters_change_the_clip_stack_and_leave_the_input_model_as_it_was(models):
    model = models[0]
    plain = sample(model, models)
    (styled,) = lora_node.apply_lora(model, "style.safetensors", 1.0)
    (stacked,) = lora_node.apply_lora(styled, "motion.safetensors", 0.8)
    assert styled.model is model.model  # patched, never copied
    with_style, with_both = sample(styled, models), sample(stacked, models)
    assert (with_style - plain).abs().mean() > 1e-3
    assert (with_both - with_style).abs().mean() > 1e-3
    # The unpatched value still samples as before, after the patched ones ran.
    torch.testing.assert_close(sample(model, models), plain, rtol=0, atol=1e-6)
    torch.testing.assert_close(sample(styled, models), with_style, rtol=0, atol=1e-6)


def test_strength_zero_returns_the_model_unchanged(models):
    (same,) = lora_node.apply_lora(models[0], "style.safetensors", 0.0)
    assert same is models[0]


def test_an_adapter_for_another_width_is_refused_naming_what_differs(models, models_dir, tmp_path):
    other = load_transformer(models_dir / "opensora" / TRANSFORMER, dtype="fp32")
    wide_file = tmp_path / "wide.safetensors"
    wide = type(other)(**{**other.config, "hidden_size": other.config["hidden_size"] * 2})
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in wide.state_dict().items()}, str(wide_file))
    write_adapter(models_dir / "loras" / "wide.safetensors", wide_file, seed=3)
    try:
        with pytest.raises(CheckpointError, match="wide.safetensors.*hidden_size"):
            lora_node.apply_lora(models[0], "wide.safetensors", 1.0)
    finally:
        (models_dir / "loras" / "wide.safetensors").unlink()


def test_a_file_that_is_not_an_adapter_is_named(models):
    with pytest.raises(CheckpointError, match="not_a_lora.safetensors.*not an Open-Sora LoRA"):
        lora_node.apply_lora(models[0], "not_a_lora.safetensors", 1.0)
