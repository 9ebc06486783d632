"""The embedded demo model's build pieces: the caption T5, the VAE trainer and its
rescaling, the export with its provenance, and the inference config built from it."""

import json

import numpy as np
import pytest
import torch

from sora_core.checkpoints import build_model, build_vae, load_text_encoder, load_vae
from sora_core.cli.config_files import load_config
from sora_core.demo import Scene, caption, render_clip
from sora_core.demo.build import CONFIG, bucket_sizes, export, latest_checkpoint
from sora_core.demo.embedded import (
    TEXT_ENCODER_DIR,
    TRANSFORMER_FILE,
    VAE_DIR,
    embedded_config,
    file_sha256,
    read_provenance,
)
from sora_core.demo.text_encoder import CAPTION_CHANNELS, CAPTION_WORDS, write_text_encoder
from sora_core.demo.train_vae import VAE_ARCHITECTURE, rescale_latents, save_vae, train_vae
from sora_core.errors import CheckpointError
from sora_core.pipeline import Placement, default_clip_settings, encode_prompts, generate_batch
from sora_core.pipeline.loading import load_generation_models
from sora_core.text import prepare_prompts
from sora_core.vae.config import SCALING_FACTOR

TINY_MODEL = {"type": "STDiT3", "depth": 1, "hidden_size": 32, "num_heads": 2, "qk_norm": True}


@pytest.fixture(scope="module")
def text_encoder_dir(tmp_path_factory):
    return write_text_encoder(tmp_path_factory.mktemp("demo") / TEXT_ENCODER_DIR)


def test_every_caption_word_is_one_token_and_other_words_still_tokenise(text_encoder_dir):
    encoder = load_text_encoder(text_encoder_dir, model_max_length=16)
    text = caption(Scene("yellow", "triangle", "down", "gray"))
    ids = encoder.tokenize([text]).input_ids[0]
    assert int((ids > 2).sum()) == len(text.split())  # one id per word, then </s> and pads
    assert len(set(CAPTION_WORDS)) + 3 < encoder.tokenizer.vocab_size
    assert int((encoder.tokenize(["a fox"]).input_ids[0] > 2).sum()) > 2  # spelt by letters
    encoding = encoder.encode([text])
    assert encoding["y"].shape == (1, 1, 16, CAPTION_CHANNELS)


def test_the_t5_is_the_same_bits_for_the_same_seed(tmp_path):
    first = write_text_encoder(tmp_path / "a")
    second = write_text_encoder(tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert file_sha256(first / name) == file_sha256(second / name)


def test_rescaling_scales_the_latents_and_leaves_the_decoding_alone():
    torch.manual_seed(0)
    module = build_vae({"type": "VideoAutoencoderKL", "autoencoder": VAE_ARCHITECTURE}).module
    frames = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        mean, logvar = module.quant_conv(module.encoder(frames)).chunk(2, dim=1)
        decoded = module.decoder(module.post_quant_conv(mean))
        rescale_latents(module, 3.0)
        new_mean, new_logvar = module.quant_conv(module.encoder(frames)).chunk(2, dim=1)
        new_decoded = module.decoder(module.post_quant_conv(new_mean))
    torch.testing.assert_close(new_mean, 3 * mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(new_logvar, logvar + 2 * np.log(3.0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(new_decoded, decoded, rtol=1e-4, atol=1e-4)


def test_a_trained_vae_folder_loads_with_sd_scaling_and_unit_latents(tmp_path):
    module, record = train_vae(steps=2, seed=0, log=lambda line: None)
    assert len(record["mse"]) == 2
    folder = save_vae(module, tmp_path / VAE_DIR)
    vae = load_vae(folder, {"type": "VideoAutoencoderKL"}).float()
    assert vae.scaling_factor == SCALING_FACTOR
    frames = render_clip(Scene("red", "square", "up", "black"), 1, 64, 64, np.random.default_rng(0))
    video = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    with torch.no_grad():
        latent = vae.encode(video, sample_posterior=False)
    assert latent.shape == (1, 4, 1, 8, 8)
    assert 0.3 < float(latent.std()) < 3.0  # rescaled to about unit spread


def fake_training_run(root, text_encoder_dir, steps=(100, 200)):
    """A model folder (T5, VAE) and an experiment folder with EMA checkpoints, as
    `opensora-train` lays them out, for a tiny transformer."""
    model_dir = root / "model"
    model_dir.mkdir()
    (model_dir / TEXT_ENCODER_DIR).parent.mkdir(parents=True)
    (model_dir / TEXT_ENCODER_DIR).symlink_to(text_encoder_dir)
    torch.manual_seed(0)
    vae = build_vae({"type": "VideoAutoencoderKL", "autoencoder": VAE_ARCHITECTURE})
    save_vae(vae.module, model_dir / VAE_DIR)
    experiment = root / "outputs" / "000-STDiT3"
    model = build_model(
        {**TINY_MODEL, "caption_channels": CAPTION_CHANNELS, "model_max_length": 16}
    )
    for step in steps:
        checkpoint = experiment / f"epoch0-global_step{step}"
        checkpoint.mkdir(parents=True)
        torch.save(model.state_dict(), checkpoint / "ema.pt")
    (experiment / "epoch0-global_step900").mkdir()  # half-written: no ema.pt
    (experiment / "log.jsonl").write_text(json.dumps({"step": 1, "loss": 0.5}) + "\n")
    data_config = root / "data.py"
    data_config.write_text(
        'dataset = dict(type="VideoTextDataset", num_frames=8, image_size=(64, 64))\n'
        f"model = dict({', '.join(f'{k}={v!r}' for k, v in TINY_MODEL.items())})\n"
        'vae = dict(type="VideoAutoencoderKL", from_pretrained="unused")\n'
        'text_encoder = dict(type="t5", from_pretrained="unused", model_max_length=16)\n'
    )
    config = root / "train.py"
    config.write_text(
        '_base_ = ["data.py"]\n'
        'dataset = dict(type="BatchFeatureDataset", data_path=None, _delete_=True)\n'
    )
    return model_dir, root / "outputs", config, data_config


def test_export_ships_the_latest_ema_in_fp16_with_matching_hashes(tmp_path, text_encoder_dir):
    model_dir, outputs, config, data_config = fake_training_run(tmp_path, text_encoder_dir)
    checkpoint = latest_checkpoint(outputs)
    assert checkpoint.name == "epoch0-global_step200"
    provenance = json.loads(
        export(checkpoint, config, data_config, {"data": {"seed": 0}}, model_dir).read_text()
    )
    assert provenance["checkpoint"] == "epoch0-global_step200"
    assert provenance["transformer_log"] == [{"step": 1, "loss": 0.5}]
    assert provenance["config"]["dataset"] == {"type": "BatchFeatureDataset", "data_path": None}
    assert provenance["data_config"]["dataset"]["num_frames"] == 8
    hashed = provenance["sha256"]
    assert set(hashed) >= {
        TRANSFORMER_FILE,
        f"{VAE_DIR}/config.json",
        f"{TEXT_ENCODER_DIR}/tokenizer.json",
    }
    for name, digest in hashed.items():
        assert file_sha256(model_dir / name) == digest, name


def test_the_inference_config_from_the_provenance_generates_at_the_trained_size(
    tmp_path, text_encoder_dir
):
    model_dir, outputs, config, data_config = fake_training_run(tmp_path, text_encoder_dir)
    export(latest_checkpoint(outputs), config, data_config, {}, model_dir)
    settings = embedded_config(model_dir)
    assert (settings["image_size"], settings["num_frames"]) == ((64, 64), 8)
    settings["scheduler"]["num_sampling_steps"] = 1
    models = load_generation_models(settings, Placement.create("cpu", "fp32"))
    clip = default_clip_settings("1.2", image_size=(64, 64), num_frames=8, fps=8)
    prompts = prepare_prompts([caption(Scene("red", "circle", "left", "black"))])
    encoding = encode_prompts(models.text_encoder, prompts, 1, "cpu")
    video = generate_batch(models, encoding, clip, noise=0).video
    assert video.shape == (1, 3, 8, 64, 64)


def test_a_missing_provenance_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="provenance.json is missing or damaged"):
        embedded_config(tmp_path)


def test_the_build_renders_every_bucket_size_of_its_config_as_the_shipped_data_had():
    """One source for the data sizes: the config's bucket table, in its order (the order
    decides which size each seeded clip draws, so it is what the shipped model saw)."""
    sizes = bucket_sizes(load_config(CONFIG))
    assert [list(size) for size in sizes] == read_provenance()["data"]["sizes"]
    table = {"a": (10, {"1.00": (3, 3), "0.50": (2, 4)}), "b": (99, {"2.00": (8, 4)})}
    assert bucket_sizes({"bucket_resolutions": table}) == ((3, 3), (2, 4), (8, 4))
