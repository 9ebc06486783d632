"""DiT and PixArt-α through the ComfyUI nodes: tiny random checkpoints in their releases'
layouts, listed from a models folder, loaded, conditioned (class label / T5 prompt),
sampled and decoded with the SD VAE; wrong pairings and labels are named errors."""

import pytest
import torch
from pack_loader import pack_module
from tiny_models import (
    DIT,
    DIT_CLASSES,
    PIXART,
    PIXART_TOKENS,
    SD_VAE,
    TEXT_ENCODER,
    TINY_IMAGE_MODEL,
    write_release_file,
    write_tiny_dit,
    write_tiny_pixart,
)

from sora_core.checkpoints import build_model
from sora_core.errors import CheckpointError, ConfigError, PromptError

NODE_MODULES = ("spec", "loaders", "class_label", "text_encode", "sampling", "vae_nodes", "paths")
spec_module, loaders, class_label, text_encode, sampling, vae_nodes, paths = map(
    pack_module, NODE_MODULES
)
SPECS = {node.node_id: node for node in pack_module("catalog").SPECS}
SIZE = 32


@pytest.fixture(scope="module")
def sd_vae(tiny_models_dir):
    return loaders.load_vae(SD_VAE, "default", 0)[0]


@pytest.fixture(scope="module")
def dit(tiny_models_dir):
    return loaders.load_transformer(DIT, "fp32", "sdpa")[0]


@pytest.fixture(scope="module")
def pixart(tiny_models_dir):
    return loaders.load_transformer(PIXART, "fp32", "sdpa")[0]


@pytest.fixture(scope="module")
def t5(tiny_models_dir):
    return loaders.load_text_encoder(TEXT_ENCODER, "fp32", "default", PIXART_TOKENS)[0]


def _prompt(t5, text: str = "a lighthouse on a cliff"):
    return text_encode.encode_prompt(t5, text, "1.2", -1.0, -1.0, "none")[0]


def sample(model, vae, conditioning, seed=0, width=SIZE, height=SIZE, frames=1):
    (latent,) = sampling.sample_clip(
        model, vae, conditioning, "dpm-solver", 2, 4.0, seed, "240p", "9:16", width, height,
        frames, 0.0, 8.0,
    )  # fmt: skip
    return latent


# --- listing and loading ------------------------------------------------------------------
def test_release_files_are_listed_from_both_model_folders(tiny_models_dir):
    assert (tiny_models_dir / "opensora" / DIT).is_file()
    assert (tiny_models_dir / "diffusion_models" / PIXART).is_file()
    choices = paths.model_choices("transformer")
    assert DIT in choices and PIXART in choices
    assert SD_VAE in paths.model_choices("vae")


def test_loader_detects_dit_and_pixart_from_their_weights(dit, pixart, sd_vae):
    assert type(dit.model).__name__ == "DiT" and dit.model.num_classes == DIT_CLASSES
    assert type(pixart.model).__name__ == "PixArt"
    assert pixart.model.y_embedder.y_embedding.shape[0] == PIXART_TOKENS
    assert dit.release == pixart.release == "1.2"
    assert sd_vae.vae.family == "sd"


# --- class-conditional DiT ----------------------------------------------------------------
def test_class_label_node_samples_a_dit_image(dit, sd_vae):
    (conditioning,) = class_label.encode_class_label(dit, 3)
    assert conditioning.for_loop(0).y.tolist() == [3]
    assert conditioning.for_loop(0).y_null.tolist() == [DIT_CLASSES]  # the null class of CFG
    latent = sample(dit, sd_vae, conditioning, seed=1)
    assert latent["samples"].shape == (1, 4, 1, SIZE // 8, SIZE // 8)
    frames, _ = vae_nodes.decode(sd_vae, latent, 0.0, 0)
    assert frames.shape == (1, SIZE, SIZE, 3)
    assert 0.0 <= frames.min() and frames.max() <= 1.0


def test_the_class_label_decides_the_image(dit, sd_vae):
    first, again, other = (
        sample(dit, sd_vae, class_label.encode_class_label(dit, label)[0], seed=2)["samples"]
        for label in (3, 3, 7)
    )
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, other)


def test_a_label_beyond_the_models_classes_names_the_field_and_range(tiny_models_dir):
    # UCF101's 101 classes: 150 passes the widget's range (ImageNet's 0-999), not the model's.
    write_tiny_dit(tiny_models_dir / "opensora" / "tiny_dit_ucf101.pt", classes=101)
    (ucf,) = loaders.load_transformer("tiny_dit_ucf101.pt", "fp32", "sdpa")
    assert spec_module.validate_values(SPECS["OpenSoraClassLabel"], {"class_label": 150}) is True
    with pytest.raises(PromptError, match=r"class_label: 150 is out of range .* allowed 0 to 100"):
        class_label.encode_class_label(ucf, 150)
    assert class_label.encode_class_label(ucf, 100)[0].for_loop(0).y_null.tolist() == [101]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "class_label: -1 is below the minimum 0"),
        (1000, "class_label: 1000 is above the maximum 999"),
    ],
)
def test_labels_outside_every_models_range_are_refused_before_running(value, message):
    node = SPECS["OpenSoraClassLabel"]
    assert spec_module.validate_values(node, {"class_label": value}) == message
    assert spec_module.validate_values(node, {"class_label": 999}) is True


def test_a_prompt_into_a_class_conditional_dit_names_the_node_to_use(dit, sd_vae, t5):
    with pytest.raises(
        ConfigError, match="conditioning: a prompt, but .*1000 classes.*Class Label"
    ):
        sample(dit, sd_vae, _prompt(t5))


def test_a_latte_release_loads_as_latte_and_makes_a_class_video(tiny_models_dir, sd_vae):
    # Latte's keys are DiT's; its release (UCF101, {"ema": ...}) also stores `temp_embed`.
    torch.manual_seed(0)
    condition = {"condition": "label_101", **TINY_IMAGE_MODEL}
    latte = build_model({"type": "Latte", "input_size": (3, 4, 4), **condition})
    tables = {"pos_embed": "pos_embed_spatial", "temp_embed": "pos_embed_temporal"}
    write_release_file(tiny_models_dir / "opensora" / "tiny_latte_ucf101.pt", latte, "ema", tables)
    (model,) = loaders.load_transformer("tiny_latte_ucf101.pt", "fp32", "sdpa")
    assert type(model.model).__name__ == "Latte" and model.model.num_classes == 101
    latent = sample(model, sd_vae, class_label.encode_class_label(model, 100)[0], frames=3)
    assert latent["samples"].shape == (1, 4, 3, SIZE // 8, SIZE // 8)
    frames, video = vae_nodes.decode(sd_vae, latent, 0.0, 0)
    assert frames.shape == (3, SIZE, SIZE, 3) and video.fps == 8.0


def test_a_clip_conditioned_dit_is_refused_before_sampling(tiny_models_dir, sd_vae, t5):
    torch.manual_seed(0)
    text_dit = build_model(
        {"type": "DiT", "input_size": (1, 4, 4), "condition": "text", **TINY_IMAGE_MODEL}
    )
    write_release_file(tiny_models_dir / "opensora" / "tiny_dit_clip.pt", text_dit, None)
    (model,) = loaders.load_transformer("tiny_dit_clip.pt", "fp32", "sdpa")
    with pytest.raises(ConfigError, match="model: .*pooled CLIP captions.*opensora-generate"):
        sample(model, sd_vae, _prompt(t5))


# --- PixArt-α with T5 captions ------------------------------------------------------------
def test_pixart_text_to_image_through_the_nodes(pixart, sd_vae, t5):
    latent = sample(pixart, sd_vae, _prompt(t5), seed=3)
    assert latent["samples"].shape == (1, 4, 1, SIZE // 8, SIZE // 8)
    frames, _ = vae_nodes.decode(sd_vae, latent, 0.0, 0)
    assert frames.shape == (1, SIZE, SIZE, 3)
    other = sample(pixart, sd_vae, _prompt(t5, "a red fox in the snow"), seed=3)
    assert not torch.allclose(latent["samples"], other["samples"])


def test_pixart_ms_gets_its_size_conditioning_at_any_aspect_ratio(tiny_models_dir, sd_vae, t5):
    write_tiny_pixart(tiny_models_dir / "opensora" / "tiny_pixart_ms.pth", kind="PixArtMS")
    (model,) = loaders.load_transformer("tiny_pixart_ms.pth", "fp32", "sdpa")
    assert type(model.model).__name__ == "PixArtMS"
    latent = sample(model, sd_vae, _prompt(t5), width=48, height=SIZE)
    assert latent["samples"].shape == (1, 4, 1, SIZE // 8, 48 // 8)


def test_class_label_node_refuses_a_text_conditioned_model(pixart):
    with pytest.raises(PromptError, match="model: .*PixArt, conditioned on text.*Text Encode"):
        class_label.encode_class_label(pixart, 0)


def test_a_class_label_into_pixart_names_the_node_to_use(pixart, dit, sd_vae):
    (labels,) = class_label.encode_class_label(dit, 1)
    with pytest.raises(ConfigError, match="conditioning: a class label, but .*PixArt.*Text Encode"):
        sample(pixart, sd_vae, labels)


def test_a_t5_of_another_length_says_which_max_length_pixart_needs(pixart, sd_vae, tiny_models_dir):
    (long_t5,) = loaders.load_text_encoder(TEXT_ENCODER, "fp32", "default", 300)
    with pytest.raises(ConfigError, match="120 tokens .* pads to model_max_length=300.*max_length"):
        sample(pixart, sd_vae, _prompt(long_t5))


def test_a_vae_file_in_the_transformer_folder_is_named_as_such(tiny_models_dir):
    (tiny_models_dir / "diffusion_models" / "vae_by_mistake.safetensors").write_bytes(
        (tiny_models_dir / "vae" / SD_VAE).read_bytes()
    )
    with pytest.raises(CheckpointError, match="VAE checkpoint, not a transformer"):
        loaders.load_transformer("vae_by_mistake.safetensors", "default", "auto")
