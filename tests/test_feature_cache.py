"""The feature cache: `opensora-extract-features` stores latents and T5 embeddings per batch;
training on them gives the same loss as encoding on the fly (posterior noise replayed)."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from pipeline_helpers import reference_vae_config

from golden import fixtures_dir, read_json
from sora_core.checkpoints import load_transformer
from sora_core.cli.extract_features import extract
from sora_core.datasets import build_dataset, prepare_dataloader
from sora_core.datasets.features import posterior_noise
from sora_core.errors import ConfigError, DatasetError
from sora_core.samplers import GeneratorNoise, build_scheduler, training_losses
from sora_core.training.models import build_text_encoder_for_training, build_vae_for_training
from sora_core.video_io import write_mp4

CPU = torch.device("cpu")

SEED = 11


def _config() -> dict:
    return {
        "dataset": {"type": "VariableVideoTextDataset", "transform_name": "resize_crop"},
        "bucket_config": {"144p": {"1": [1.0, 1], "4": [1.0, 2]}},
        "vae": {
            **reference_vae_config(read_json("checkpoints/vae_v12.json")),
            "from_pretrained": str(fixtures_dir() / "checkpoints" / "vae_v12_hf"),
        },
        "text_encoder": {
            "type": "t5",
            "from_pretrained": str(fixtures_dir() / "text" / "tiny_t5"),
            "model_max_length": 300,
            "cache_size": 0,
        },
        "seed": SEED,
    }


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(0)
    rows = []
    for name, frames in (("a.mp4", 6), ("b.mp4", 5)):
        write_mp4(rng.integers(0, 256, (frames, 144, 256, 3), dtype=np.uint8), folder / name, fps=8)
        rows.append([str(folder / name), f"clip {name}", frames, 144, 256])
    Image.fromarray(rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)).save(folder / "c.png")
    rows.append([str(folder / "c.png"), "a picture", 1, 192, 192])
    table = folder / "train.csv"
    with open(table, "w", newline="") as handle:
        csv.writer(handle).writerows([["path", "text", "num_frames", "height", "width"], *rows])
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(_config()))
    save_dir = folder / "cache"
    assert (
        extract(
            [
                str(config_path),
                "--data-path",
                str(table),
                "--save-dir",
                str(save_dir),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    return table, save_dir


def _model_args(batch, y, mask) -> dict:
    args = {"y": y, "mask": mask}
    args.update({key: batch[key].float() for key in ("num_frames", "height", "width", "ar", "fps")})
    return args


def test_cached_loss_equals_on_the_fly_loss(cache):
    table, save_dir = cache
    config = _config()
    cached = list(
        prepare_dataloader(
            build_dataset({"type": "BatchFeatureDataset", "data_path": str(save_dir)}),
            shuffle=False,
        ).batches(0)
    )
    live_loader = prepare_dataloader(
        build_dataset(config["dataset"], data_path=str(table), seed=SEED),
        bucket_config=config["bucket_config"],
        shuffle=False,
        drop_last=False,
        seed=SEED,
    )
    # the encoders as the trainer builds them for on-the-fly batches
    vae = build_vae_for_training(config, CPU)
    text_encoder = build_text_encoder_for_training(config, CPU)
    model = load_transformer(fixtures_dir() / "checkpoints" / "stdit3_hf", dtype="fp32").eval()
    scheduler = build_scheduler({"type": "rflow", "use_timestep_transform": True}, release="1.2")
    live = list(live_loader.batches(0))
    assert len(cached) == len(live) == 2
    for number, (stored, batch) in enumerate(zip(cached, live)):
        assert stored["index"] == batch["index"]
        with torch.no_grad():
            latents = vae.encode(batch["video"], noise=posterior_noise(SEED, number))
            text = text_encoder.encode(batch["text"])
            assert torch.equal(stored["video"], latents)
            assert torch.equal(stored["text"], text["y"]) and torch.equal(
                stored["mask"], text["mask"]
            )
            on_the_fly = training_losses(
                scheduler,
                model,
                latents,
                _model_args(batch, text["y"], text["mask"]),
                rng=GeneratorNoise(3),
            )["loss"]
            from_cache = training_losses(
                scheduler,
                model,
                stored["video"],
                _model_args(stored, stored["text"], stored["mask"]),
                rng=GeneratorNoise(3),
            )["loss"]
        assert torch.isfinite(from_cache).all()
        # Same inputs, bit for bit; the loss may differ in the last bit only because the
        # stored tensors are contiguous copies (other strides, other summation order).
        torch.testing.assert_close(from_cache, on_the_fly, rtol=1e-6, atol=0)


def test_feature_batches_shard_across_ranks_and_resume(cache):
    _, save_dir = cache
    dataset = build_dataset({"type": "BatchFeatureDataset", "data_path": str(save_dir)})
    per_rank = [
        [b["index"] for b in prepare_dataloader(dataset, num_replicas=2, rank=r, seed=1).batches(0)]
        for r in range(2)
    ]
    assert len(per_rank[0]) == len(per_rank[1]) == 1 and per_rank[0] != per_rank[1]
    loader = prepare_dataloader(dataset, num_replicas=1, seed=1)
    assert [b["index"] for b in loader.batches(0, start_step=1)] == [
        b["index"] for b in list(prepare_dataloader(dataset, seed=1).batches(0))[1:]
    ]
    assert loader.fixed_size is None


def test_feature_cache_errors_are_named(tmp_path):
    with pytest.raises(DatasetError, match="opensora-extract-features"):
        build_dataset({"type": "BatchFeatureDataset", "data_path": str(tmp_path)})
    with pytest.raises(ConfigError, match="bucket_config"):
        build_dataset(
            {"type": "BatchFeatureDataset", "data_path": str(tmp_path), "bucket_config": {}}
        )
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dataset": {"type": "VariableVideoTextDataset"}}))
    with pytest.raises(ConfigError, match="'vae'"):
        extract([str(config), "--data-path", "x.csv", "--save-dir", str(tmp_path / "out")])


def test_opensora_train_runs_on_the_cache_without_encoders(cache, tmp_path, monkeypatch):
    from training_helpers import tiny_config, write_config

    import sora_core.training.models as training_models
    from sora_core.cli import train_main

    def no_encoder(*args, **kwargs):
        raise AssertionError("an encoder was built for a feature-cache run")

    monkeypatch.setattr(training_models, "build_vae_for_training", no_encoder)
    monkeypatch.setattr(training_models, "build_text_encoder_for_training", no_encoder)
    _, save_dir = cache
    config = tiny_config(
        epochs=1, dataset={"type": "BatchFeatureDataset", "data_path": str(save_dir)}
    )
    config.pop("bucket_config")
    path = write_config(tmp_path / "train.py", config)
    assert train_main([str(path), "--outputs", str(tmp_path / "out")]) == 0
    (exp_dir,) = (tmp_path / "out").iterdir()
    records = [json.loads(line) for line in (exp_dir / "log.jsonl").read_text().splitlines()]
    assert [r for r in records if "loss" in r] and all(
        torch.isfinite(torch.tensor(r["loss"])) for r in records if "loss" in r
    )
