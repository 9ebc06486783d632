"""A contact sheet of generated clips: one row of frames per MP4, its file name above it.

    python tools/contact_sheet.py samples/*.mp4 --out docs/demo_contact_sheet.png

Frames are enlarged with nearest-neighbour sampling (the demo model's clips are 64x64) so
the picture shows the pixels the model made.
"""

import argparse
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

LABEL_HEIGHT = 16
GAP = 4


def read_frames(path: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of a video file."""
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def contact_sheet(videos: "list[Path]", labels: "list[str]", scale: int = 2) -> Image.Image:
    """Rows of frames, each under its label, on white."""
    clips = [read_frames(path) for path in videos]
    frames = max(len(clip) for clip in clips)
    height, width = (max(clip.shape[i] for clip in clips) * scale for i in (1, 2))
    row = LABEL_HEIGHT + height + GAP
    sheet = Image.new("RGB", (frames * (width + GAP) + GAP, len(clips) * row + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (clip, label) in enumerate(zip(clips, labels, strict=True)):
        top = GAP + index * row
        draw.text((GAP, top + 2), label, fill="black")
        for t, frame in enumerate(clip):
            image = Image.fromarray(frame).resize(
                (frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST
            )
            sheet.paste(image, (GAP + t * (width + GAP), top + LABEL_HEIGHT))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--labels", nargs="+", help="one per video (default: file names)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    labels = args.labels or [path.name for path in args.videos]
    contact_sheet(args.videos, labels, args.scale).save(args.out)
    print(f"{len(args.videos)} clips -> {args.out}")


if __name__ == "__main__":
    main()
