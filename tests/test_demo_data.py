"""The demo's procedural data: captions, held-out combinations, rendering, the CSV, and the
pixel readers the demo model's semantic tests rely on."""

import csv
import itertools

import av
import numpy as np
import pytest
from PIL import Image

from sora_core.demo import (
    BACKGROUNDS,
    COLOURS,
    DIRECTIONS,
    HELD_OUT,
    SHAPES,
    Scene,
    caption,
    parse_caption,
    render_clip,
    training_combos,
)
from sora_core.demo.analysis import read_clip
from sora_core.demo.dataset import CSV_COLUMNS, write_demo_dataset
from sora_core.errors import ConfigError

ALL_SCENES = [
    Scene(*combo, background)
    for combo in itertools.product(COLOURS, SHAPES, DIRECTIONS)
    for background in BACKGROUNDS
]


def test_caption_has_the_one_form_and_parses_back():
    scene = Scene("yellow", "triangle", "up", "gray")
    assert caption(scene) == "a yellow triangle moving up on a gray background"
    assert parse_caption("A yellow triangle moving up on a gray background ") == scene


@pytest.mark.parametrize(
    "text, word",
    [
        ("a purple circle moving up on a black background", "colour 'purple'"),
        ("a red circle moving sideways on a black background", "direction 'sideways'"),
        ("a red fox trots through snow", "not a demo caption"),
    ],
)
def test_other_wording_is_refused_naming_the_word(text, word):
    with pytest.raises(ConfigError, match=word):
        parse_caption(text)


def test_held_out_combinations_are_never_trained_but_their_parts_are():
    trained = training_combos()
    assert not set(HELD_OUT) & set(trained)
    assert len(trained) == len(COLOURS) * len(SHAPES) * len(DIRECTIONS) - len(HELD_OUT)
    for colour, shape, direction in HELD_OUT:
        assert any(combo[0] == colour for combo in trained)
        assert any(combo[1] == shape for combo in trained)
        assert any(combo[2] == direction for combo in trained)


@pytest.mark.parametrize("size", [(64, 64), (64, 112), (112, 64)])
def test_the_pixel_reader_reads_every_rendered_scene(size):
    rng = np.random.default_rng(0)
    for scene in ALL_SCENES:
        frames = render_clip(scene, 12, *size, rng)
        reading = read_clip(frames)
        assert (reading.background, reading.colour, reading.shape, reading.direction) == (
            scene.background,
            scene.colour,
            scene.shape,
            scene.direction,
        ), scene


def test_the_whole_path_stays_in_view_and_too_long_a_clip_is_refused():
    rng = np.random.default_rng(1)
    for _ in range(20):
        frames = render_clip(Scene("red", "square", "left", "black"), 12, 64, 64, rng)
        for edge in (frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]):
            assert edge.max() == 0
    with pytest.raises(ConfigError, match="num_frames 40: a 64x64 frame is too small"):
        render_clip(Scene("red", "square", "left", "black"), 40, 64, 64, rng)


def test_dataset_writes_the_reference_csv_with_decodable_files(tmp_path):
    csv_path = write_demo_dataset(tmp_path / "data", num_videos=12, num_images=4, seed=3)
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 16
    assert {int(row["num_frames"]) for row in rows[:12]} == {8, 12}
    assert {int(row["num_frames"]) for row in rows[12:]} == {1}
    assert len({(row["height"], row["width"]) for row in rows}) > 1
    for row in rows:
        scene = parse_caption(row["text"])
        assert scene.combo not in HELD_OUT
        height, width, frames = int(row["height"]), int(row["width"]), int(row["num_frames"])
        assert float(row["aspect_ratio"]) == pytest.approx(height / width)
        if frames == 1:
            assert Image.open(row["path"]).size == (width, height)
            continue
        with av.open(row["path"]) as container:
            decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert decoded.shape == (frames, height, width, 3)
        reading = read_clip(decoded)
        assert (reading.colour, reading.direction) == (scene.colour, scene.direction), row


def test_a_seed_gives_the_same_samples_whatever_the_count(tmp_path):
    first = write_demo_dataset(tmp_path / "a", num_videos=3, num_images=0, seed=5)
    second = write_demo_dataset(tmp_path / "b", num_videos=5, num_images=0, seed=5)
    texts = [row.split(",")[1:] for row in first.read_text().splitlines()]
    assert texts == [row.split(",")[1:] for row in second.read_text().splitlines()][:4]
    assert (tmp_path / "a/videos/clip_00002.mp4").read_bytes() == (
        tmp_path / "b/videos/clip_00002.mp4"
    ).read_bytes()
