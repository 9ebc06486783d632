"""Training datasets end to end on a small table: clips and images of several sizes plus a
missing file, a corrupt file and a row with a bad value. Batches follow the contract in
`sora_core/datasets/loader.py`; bad rows are skipped, warned about once and counted."""

import csv
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from sora_core.datasets import (
    MaskGenerator,
    TaskMaskGenerator,
    build_condition_noise,
    build_dataset,
    build_mask_generator,
    build_training_data,
    prepare_dataloader,
)
from sora_core.datasets.task_masks import DEFAULT_TEXTS
from sora_core.errors import ConfigError, DatasetError
from sora_core.video_io import write_mp4

BUCKETS = {"144p": {1: (1.0, 2), 8: (1.0, 2)}}
COLUMNS = ["path", "text", "num_frames", "height", "width", "aspect_ratio", "fps"]


def _frames(count: int, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    rows = []

    def add(name, frames, height, width, text):
        rows.append([str(folder / name), text, frames, height, width, round(height / width, 2), 8])

    write_mp4(_frames(12, 144, 256, 0), folder / "wide.mp4", fps=8)
    add("wide.mp4", 12, 144, 256, "a wide clip")
    write_mp4(_frames(10, 256, 144, 1), folder / "tall.mp4", fps=8)
    add("tall.mp4", 10, 256, 144, "a tall clip")
    Image.fromarray(_frames(1, 200, 300, 2)[0]).save(folder / "photo.png")
    add("photo.png", 1, 200, 300, "a photo")
    Image.fromarray(_frames(1, 192, 192, 3)[0]).save(folder / "square.jpg")
    add("square.jpg", 1, 192, 192, "a square photo")
    add("missing.mp4", 12, 144, 256, "a clip that is not there")
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 8)
    add("corrupt.mp4", 12, 144, 256, "a clip that does not decode")
    add("wide.mp4", "many", 144, 256, "a row with a bad frame count")
    path = folder / "train.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def _loader(table, **kwargs):
    dataset = build_dataset(
        {"type": "VariableVideoTextDataset", "transform_name": "resize_crop"},
        data_path=str(table),
        seed=kwargs.pop("seed", 0),
    )
    options = {"bucket_config": BUCKETS, "drop_last": False, "seed": 0} | kwargs
    return prepare_dataloader(dataset, **options)


def test_batches_follow_the_contract_and_skip_bad_rows(table, caplog):
    loader = _loader(table)
    with caplog.at_level(logging.WARNING, logger="sora_core.datasets"):
        batches = list(loader.batches(0))
        skipped_rows = loader.take_skipped()
    # drop_last=False pads each one-sample bucket with its own head, as the reference does.
    loaded = sorted({index for batch in batches for index in batch["index"]})
    assert loaded == [0, 1, 2, 3]
    skipped = {sample.row.index: sample.reason for batch in batches for sample in batch["skipped"]}
    assert set(skipped) == {4, 5}
    assert "the file does not exist" in skipped[4] and "cannot be decoded" in skipped[5]
    for batch in batches:
        size = len(batch["index"])
        video = batch["video"]
        assert video.dtype == torch.float32 and video.shape[:2] == (size, 3)
        assert video.min() >= -1 and video.max() <= 1
        T, H, W = video.shape[2:]
        assert batch["num_frames"].tolist() == [T] * size
        assert batch["height"].tolist() == [H] * size and batch["width"].tolist() == [W] * size
        assert torch.allclose(batch["ar"], torch.full((size,), H / W, dtype=torch.float64))
        assert len(batch["text"]) == size
    by_row = {i: b for b in batches for i in b["index"]}
    assert tuple(by_row[0]["video"].shape[2:]) == (8, 144, 256)  # 144p 9:16 bucket
    assert tuple(by_row[1]["video"].shape[2:]) == (8, 256, 144)
    assert tuple(by_row[2]["video"].shape[2:]) == (1, 156, 234)  # image, 2:3
    assert tuple(by_row[3]["video"].shape[2:]) == (1, 192, 192)
    assert by_row[0]["fps"].tolist()[by_row[0]["index"].index(0)] == 8.0
    assert by_row[2]["fps"].tolist()[by_row[2]["index"].index(2)] == 120.0
    assert len(skipped_rows) == 3
    for row in ("row 4", "row 5", "row 6"):
        assert sum(line.startswith(row) for line in skipped_rows) == 1
        assert sum(row in message for message in caplog.messages if "skipping" in message) == 1
    # The next epoch counts again but does not warn again per row.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sora_core.datasets"):
        list(loader.batches(1))
        assert len(loader.take_skipped()) == 3
    assert not [message for message in caplog.messages if message.startswith("skipping")]


def test_same_seed_same_batches_with_workers(table):
    first = list(_loader(table).batches(0))
    again = list(_loader(table, num_workers=1).batches(0))
    assert [b["index"] for b in first] == [b["index"] for b in again]
    for a, b in zip(first, again):
        assert torch.equal(a["video"], b["video"])


def test_resume_mid_epoch_gives_the_remaining_batches(table):
    full = list(_loader(table).batches(0))
    rest = list(_loader(table).batches(0, start_step=1))
    assert _loader(table).num_batches() == len(full)
    assert [b["index"] for b in rest] == [b["index"] for b in full[1:]]
    assert all(torch.equal(a["video"], b["video"]) for a, b in zip(rest, full[1:]))


def test_fixed_size_dataset_repeats_images(table):
    dataset = build_dataset(
        {"type": "VideoTextDataset", "num_frames": 4, "frame_interval": 2, "image_size": (64, 64)},
        data_path=str(table),
    )
    loader = prepare_dataloader(dataset, batch_size=3, shuffle=False, drop_last=False)
    batches = list(loader.batches(0))
    by_row = {}
    for batch in batches:
        assert batch["video"].shape[1:] == (3, 4, 64, 64)
        for position, index in enumerate(batch["index"]):
            by_row[index] = (batch["video"][position], batch["fps"][position].item())
    assert sorted(by_row) == [0, 1, 2, 3]
    photo, fps = by_row[2]
    assert fps == 120.0 and all(torch.equal(photo[:, 0], photo[:, t]) for t in range(4))
    assert by_row[0][1] == 4.0  # 8 fps sampled every 2nd frame


def test_dataset_config_errors_name_the_key(table, tmp_path):
    with pytest.raises(ConfigError, match="frame_intervall"):
        build_dataset({"type": "VideoTextDataset", "frame_intervall": 2}, data_path=str(table))
    with pytest.raises(ConfigError, match="'VideoDataset'"):
        build_dataset({"type": "VideoDataset"}, data_path=str(table))
    with pytest.raises(ConfigError, match="--data-path"):
        build_dataset({"type": "VideoTextDataset"})
    with pytest.raises(ConfigError, match="not square"):
        build_dataset({"type": "VideoTextDataset", "image_size": (64, 96)}, data_path=str(table))
    no_sizes = tmp_path / "paths.csv"
    no_sizes.write_text("path,text\na.mp4,hello\n")
    with pytest.raises(
        DatasetError, match=r"lacks the column\(s\) \['num_frames', 'height', 'width'\]"
    ):
        build_dataset({"type": "VariableVideoTextDataset"}, data_path=str(no_sizes))
    with pytest.raises(DatasetError, match="does not exist"):
        build_dataset({"type": "VariableVideoTextDataset"}, data_path=str(tmp_path / "none.csv"))


def test_a_table_with_no_sample_in_any_bucket_is_an_error(table):
    loader = _loader(table, bucket_config={"720p": {16: (1.0, 1)}})
    with pytest.raises(DatasetError, match="720p.*\n.*below 80%"):
        list(loader.batches(0))


def test_training_settings_build_the_data_side(table, tmp_path):
    settings = {
        "dataset": {"type": "VariableVideoTextDataset", "data_path": str(table)},
        "bucket_config": {"144p": {1: (1.0, 1), 8: (1.0, 1)}},  # whole batches of one
        "seed": 5,
        "num_workers": 0,
        "default_text_ratio": 1.0,
        "caption_dropout": 1.0,
    }
    loader = build_training_data(settings, rank=1, num_replicas=2)
    assert loader.sampler.rank == 1 and loader.sampler.num_replicas == 2
    texts = [text for batch in loader.batches(0) for text in batch["text"]]
    assert texts and set(texts) <= set(DEFAULT_TEXTS.values())
    assert build_mask_generator({}) is None
    assert isinstance(build_mask_generator({"mask_ratios": {"image_head": 0.5}}), MaskGenerator)
    mask_config = tmp_path / "mask_config.yaml"
    mask_config.write_text("mask_type_ratio_dict_video:\n  i2v: 1\n")
    assert isinstance(build_mask_generator({"mask_config": str(mask_config)}), TaskMaskGenerator)
    with pytest.raises(ConfigError, match="keep one"):
        build_mask_generator({"mask_config": str(mask_config), "mask_ratios": {"image_head": 0.5}})
    assert build_condition_noise({}) is None
    assert build_condition_noise({"add_noise_to_condition": True}) is not None
    with pytest.raises(ConfigError, match="add_noise_to_condition"):
        build_condition_noise({"add_noise_to_condition": "yes"})


def test_a_config_resolution_table_crops_batches_to_its_sizes(table):
    """`bucket_resolutions` (ours) sends the table's clips to sizes below 144p, one bucket a
    batch, through the same settings the trainer and feature extraction read."""
    settings = {
        "dataset": {"type": "VariableVideoTextDataset", "data_path": str(table)},
        "bucket_resolutions": {"96px": (9216, {"0.56": (72, 128), "1.78": (128, 72)})},
        "bucket_config": {"96px": {1: (1.0, 1), 8: (1.0, 1)}},
        "seed": 5,
        "num_workers": 0,
    }
    shapes = {
        (batch["text"][0], tuple(batch["video"].shape[2:]))
        for batch in build_training_data(settings).batches(0)
        if batch["text"]  # the bad rows' batches come out empty
    }
    assert shapes == {
        ("a wide clip", (8, 72, 128)),
        ("a tall clip", (8, 128, 72)),
        ("a photo", (1, 72, 128)),
        ("a square photo", (1, 72, 128)),  # 1:1 is nearer 0.56 than 1.78
    }
