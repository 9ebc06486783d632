"""Write the demo training set: MP4 clips and PNG stills with an Open-Sora CSV beside them.

`python -m sora_core.demo.dataset OUT_DIR --seed 0` writes `OUT_DIR/demo.csv` with the
reference's columns (path, text, num_frames, height, width, aspect_ratio, fps), ready for
`opensora-train --data-path`. Sample `i` depends only on (seed, i), so the same seed gives
the same files in any order and any subset.
"""

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..video_io import write_mp4, write_png
from .shapes import BACKGROUNDS, Scene, caption, render_clip, training_combos

CSV_COLUMNS = ("path", "text", "num_frames", "height", "width", "aspect_ratio", "fps")
# (height, width): square, landscape and portrait, so several aspect buckets fill up.
VIDEO_SIZES: tuple[tuple[int, int], ...] = ((64, 64), (64, 112), (112, 64))
VIDEO_LENGTHS: tuple[int, ...] = (8, 12)
IMAGE_SIZES: tuple[tuple[int, int], ...] = VIDEO_SIZES
FPS = 8


def draw_scene(rng: np.random.Generator) -> Scene:
    """A uniformly drawn training combination on a uniformly drawn background."""
    combos = training_combos()
    colour, shape, direction = combos[rng.integers(len(combos))]
    background = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    return Scene(colour, shape, direction, background)


def write_demo_dataset(
    folder: "str | Path",
    num_videos: int = 2000,
    num_images: int = 500,
    seed: int = 0,
    video_sizes: "Sequence[tuple[int, int]]" = VIDEO_SIZES,
    video_lengths: "Sequence[int]" = VIDEO_LENGTHS,
    image_sizes: "Sequence[tuple[int, int]]" = IMAGE_SIZES,
) -> Path:
    """Render `num_videos` clips and `num_images` stills under `folder`; returns the CSV path.

    Paths in the CSV are absolute, as the reference's dataset reads them as written.
    """
    folder = Path(folder).resolve()
    rows = []
    for index in range(num_videos + num_images):
        rng = np.random.default_rng([seed, index])
        scene = draw_scene(rng)
        is_video = index < num_videos
        sizes = video_sizes if is_video else image_sizes
        height, width = sizes[rng.integers(len(sizes))]
        num_frames = video_lengths[rng.integers(len(video_lengths))] if is_video else 1
        frames = render_clip(scene, num_frames, height, width, rng)
        if is_video:
            path = write_mp4(frames, folder / "videos" / f"clip_{index:05d}.mp4", FPS)
        else:
            path = write_png(frames[0], folder / "images" / f"still_{index:05d}.png")
        rows.append((str(path), caption(scene), num_frames, height, width, height / width, FPS))
    csv_path = folder / "demo.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return csv_path


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sora_core.demo.dataset",
        description="Write the demo model's procedural training set (clips, stills, CSV).",
    )
    parser.add_argument("folder", help="output folder (CSV at FOLDER/demo.csv)")
    parser.add_argument("--videos", type=int, default=2000, help="number of clips")
    parser.add_argument("--images", type=int, default=500, help="number of stills")
    parser.add_argument("--seed", type=int, default=0, help="data seed")
    args = parser.parse_args(argv)
    csv_path = write_demo_dataset(args.folder, args.videos, args.images, args.seed)
    print(f"{args.videos} clips and {args.images} stills -> {csv_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
