"""The Open-Sora Train node outside ComfyUI, on the tiny models and datasets the tests write:
both dataset layouts train and publish an adapter the LoRA node lists and applies (and it
changes the clip), Cancel keeps what was trained, a full fine-tune writes a loadable model
folder, and bad datasets or names are errors that say what is wrong."""

import numpy as np
import pytest
import torch
from pack_loader import pack_module
from PIL import Image
from tiny_models import TEXT_ENCODER, TRANSFORMER, VAE, write_models_dir
from training_helpers import write_table

from sora_core.errors import CheckpointError, ConfigError, DatasetError
from sora_core.lora import read_lora
from sora_core.video_io import write_mp4

loaders = pack_module("loaders")
lora_node = pack_module("lora")
text_encode = pack_module("text_encode")
sampling = pack_module("sampling")
paths = pack_module("paths")
training = pack_module("training")
spec = pack_module("spec")

WIDGETS = {
    "mode": "lora",
    "rank": 4,
    "alpha": 4.0,
    "steps": 3,
    "learning_rate": 1e-2,
    "batch_size": 1,
    "resolution": "144p",
    "num_frames": 8,
    "seed": 0,
    "checkpoint_every": 0,
    "base_dtype": "fp32",
    "output_name": "tiny_lora",
}


def write_caption_folder(folder, clips: int = 2, images: int = 2):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    for i in range(clips):
        write_mp4(
            rng.integers(0, 256, (10, 144, 256, 3), dtype=np.uint8), folder / f"c{i}.mp4", fps=8
        )
        (folder / f"c{i}.txt").write_text(f"a moving pattern {i}")
    for i in range(images):
        Image.fromarray(rng.integers(0, 256, (160, 280, 3), dtype=np.uint8)).save(
            folder / f"i{i}.png"
        )
        (folder / f"i{i}.txt").write_text(f"a still pattern {i}")
    return folder


@pytest.fixture(scope="module")
def comfy_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("comfy")
    models = write_models_dir(root / "models")
    write_caption_folder(root / "input" / "clips")
    write_table(root / "input" / "table")
    paths.use_models_dir(models)
    paths.use_io_dirs(root / "input", root / "output")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield root
    torch.set_num_threads(threads)
    paths.use_models_dir(None)
    paths.use_io_dirs(None, None)


@pytest.fixture(scope="module")
def models(comfy_dirs):
    with torch.inference_mode():  # as ComfyUI runs every node
        return _loaded()


def _loaded():
    (model,) = loaders.load_transformer(TRANSFORMER, "fp32", "sdpa")
    (vae,) = loaders.load_vae(VAE, "default", 0)
    (t5,) = loaders.load_text_encoder(TEXT_ENCODER, "fp32", "default", 300)
    return model, vae, t5


def sample(model, vae, t5) -> torch.Tensor:
    conditioning = text_encode.encode_prompt(t5, "a moving pattern", "1.2", 6.5, -1.0, "none")[0]
    (latent,) = sampling.sample_clip(
        model, vae, conditioning, "rflow", 2, 7.0, 42, "240p", "9:16", 32, 32, 1, 0.0, 24.0
    )
    return latent["samples"]


def test_a_caption_folder_trains_an_adapter_the_lora_node_applies(comfy_dirs, models):
    model, vae, t5 = models
    plain = sample(model, vae, t5)
    with torch.inference_mode():  # as ComfyUI runs every node
        trained, name, log = training.train(model, vae, t5, "clips", **WIDGETS)
    assert name == "tiny_lora.safetensors"
    assert name in paths.model_choices("lora")
    assert "step 3: loss" in log and "finished after 3 step(s)" in log
    adapter = read_lora(comfy_dirs / "models" / "loras" / name)
    assert adapter.config.rank == 4 and any(b.abs().sum() > 0 for _, b in adapter.layers.values())
    assert trained.model is model.model  # the adapter is a patch on the same module
    (applied,) = lora_node.apply_lora(model, name, 1.0)  # what a later prompt does
    with_adapter = sample(applied, vae, t5)
    torch.testing.assert_close(sample(trained, vae, t5), with_adapter, rtol=0, atol=1e-6)
    assert (with_adapter - plain).abs().max() > 1e-4  # the trained adapter changes the clip
    torch.testing.assert_close(sample(model, vae, t5), plain, rtol=0, atol=1e-6)
    checkpoints = list(
        (comfy_dirs / "output" / "opensora-train" / "tiny_lora").rglob("lora.safetensors")
    )
    assert checkpoints, "no resumable checkpoint was kept"


def test_a_csv_dataset_trains_with_a_bf16_base(comfy_dirs, models):
    widgets = {**WIDGETS, "steps": 2, "base_dtype": "bf16", "output_name": "from_csv"}
    _, name, log = training.train(*models, "table/train.csv", **widgets)
    assert name == "from_csv.safetensors" and "finished after 2 step(s)" in log
    lora_a, lora_b = next(iter(read_lora(comfy_dirs / "models" / "loras" / name).layers.values()))
    assert lora_a.dtype == lora_b.dtype == torch.float32


def test_cancel_stops_between_steps_and_keeps_a_usable_adapter(comfy_dirs, models, monkeypatch):
    steps = []
    step = training.StepProgress.step

    def record(self, done, total, loss=None):
        steps.append((done, total))
        return step(self, done, total, loss)

    monkeypatch.setattr(training.StepProgress, "step", record)
    runtime = pack_module("runtime")
    monkeypatch.setattr(runtime, "interrupt_requested", lambda: len(steps) >= 2)
    widgets = {**WIDGETS, "steps": 50, "output_name": "cancelled"}
    _, name, log = training.train(*models, "clips", **widgets)
    assert steps == [(1, 50), (2, 50)]
    assert "stopped by Cancel after 2 step(s)" in log
    (applied,) = lora_node.apply_lora(models[0], name, 1.0)
    assert applied.managed.loras  # the saved adapter loads


def test_full_fine_tune_writes_a_model_folder_the_loader_lists(comfy_dirs, models):
    widgets = {**WIDGETS, "mode": "full", "steps": 1, "learning_rate": 1e-3, "output_name": "full"}
    trained, name, _ = training.train(*models, "clips", **widgets)
    assert name == "full/" and name in paths.model_choices("transformer")
    assert trained.model is not models[0].model
    before = dict(models[0].model.named_parameters())
    moved = [k for k, p in trained.model.named_parameters() if not torch.equal(p, before[k])]
    assert moved


@pytest.mark.parametrize(
    "dataset,error,message",
    [
        ("nowhere", CheckpointError, "dataset 'nowhere' not found"),
        ("../models", CheckpointError, "inside ComfyUI's input folder"),
        ("uncaptioned", DatasetError, "have no caption"),
        ("empty", DatasetError, "holds no clips"),
    ],
)
def test_bad_datasets_are_named(comfy_dirs, models, dataset, error, message):
    (comfy_dirs / "input" / "empty").mkdir(exist_ok=True)
    uncaptioned = comfy_dirs / "input" / "uncaptioned"
    if not uncaptioned.exists():
        write_caption_folder(uncaptioned, clips=1, images=1)
        (uncaptioned / "i0.txt").unlink()
    with pytest.raises(error, match=message):
        training.train(*models, dataset, **{**WIDGETS, "output_name": "bad"})


def test_output_names_are_plain_file_stems():
    node = next(node for node in pack_module("catalog").SPECS if node.node_id == "OpenSoraTrain")
    assert spec.validate_values(node, {"output_name": "style_v2.1"}) is True
    for bad in ("../x", "a/b", "", ".hidden"):
        assert "output_name:" in spec.validate_values(node, {"output_name": bad})


def test_encoders_that_do_not_fit_the_transformer_are_named(comfy_dirs, models):
    model, vae, _ = models
    with torch.inference_mode():
        (short_t5,) = loaders.load_text_encoder(TEXT_ENCODER, "fp32", "default", 120)
    with pytest.raises(
        ConfigError, match="T5's max_length is 120, the transformer's model_max_length is 300"
    ):
        training.train(model, vae, short_t5, "clips", **{**WIDGETS, "output_name": "bad"})
