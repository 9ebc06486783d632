"""The common LoRA dataset layout: a folder of clips and images, each with a same-named
`.txt` caption (`fox.mp4` + `fox.txt`), turned into Open-Sora's training table.

`write_caption_table(folder, table)` probes every file once (frame count and size, which
bucketing needs) and writes the CSV `read_rows` reads: `path, text, num_frames, height,
width, fps`. A folder without media, a file without a caption or with an empty one, and a
file that cannot be opened are errors naming the files, before any training starts.
"""

import csv
from pathlib import Path

import av
from PIL import Image

from ..conditioning.references import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ..errors import DatasetError

COLUMNS = ("path", "text", "num_frames", "height", "width", "fps")
SHOWN = 5  # files listed per problem


def _probe(path: Path) -> "tuple[int, int, int, float]":
    """(frames, height, width, fps) of a clip or an image (1 frame)."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        with Image.open(path) as image:
            width, height = image.size
        return 1, height, width, 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for _ in container.decode(video=0))
        rate = float(stream.average_rate or 0)
        return frames, stream.codec_context.height, stream.codec_context.width, rate


def _listed(paths) -> str:
    names = [path.name for path in paths]
    return str(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def write_caption_table(folder: "str | Path", table: "str | Path") -> Path:
    """Write the training CSV for a captioned media `folder` (searched recursively)."""
    folder, table = Path(folder), Path(table)
    if not folder.is_dir():
        raise DatasetError(f"dataset folder {str(folder)!r} does not exist")
    media = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS
    )
    if not media:
        raise DatasetError(
            f"dataset folder {str(folder)!r} holds no clips {list(VIDEO_EXTENSIONS)} or images "
            f"{list(IMAGE_EXTENSIONS)}; put each next to a same-named .txt caption"
        )
    uncaptioned = [path for path in media if not path.with_suffix(".txt").is_file()]
    if uncaptioned:
        raise DatasetError(
            f"dataset folder {str(folder)!r}: {len(uncaptioned)} file(s) have no caption "
            f"{_listed(uncaptioned)}; add a same-named .txt file (fox.mp4 -> fox.txt)"
        )
    captions = {
        path: path.with_suffix(".txt").read_text(encoding="utf-8").strip() for path in media
    }
    empty = [path.with_suffix(".txt") for path, text in captions.items() if not text]
    if empty:
        raise DatasetError(f"dataset folder {str(folder)!r}: empty caption(s) {_listed(empty)}")
    rows = []
    for path in media:
        try:
            frames, height, width, fps = _probe(path)
        except Exception as error:  # PIL and av raise many types for damaged files
            raise DatasetError(f"dataset file {str(path)!r} cannot be read: {error}") from error
        rows.append((str(path.resolve()), captions[path], frames, height, width, f"{fps:g}"))
    table.parent.mkdir(parents=True, exist_ok=True)
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return table
