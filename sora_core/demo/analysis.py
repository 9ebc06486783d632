"""Reading a demo clip back from its pixels: background, colour, shape and direction.

The demo's semantic tests and its pass-rate measurement judge generated clips with these
functions; the same functions read the renderer's own clips correctly (tested), so a
failure points at the model, not at the judge.
"""

from dataclasses import dataclass

import numpy as np

from .shapes import BACKGROUNDS, COLOURS, DIRECTIONS

# A pixel is foreground when it is this far (RGB Euclidean, 0-255) from the background.
FOREGROUND_DISTANCE = 60.0
# Area / bounding-box area of each shape, drawn exactly.
FILL_RATIOS = {"square": 1.0, "circle": np.pi / 4, "triangle": 0.5}


@dataclass(frozen=True)
class ClipReading:
    """What a clip shows, as far as its pixels tell."""

    background: str
    colour: "str | None"
    shape: "str | None"
    direction: "str | None"
    foreground_fraction: float


def _nearest(rgb: np.ndarray, palette: "dict[str, tuple[int, int, int]]") -> str:
    names = list(palette)
    distances = [np.linalg.norm(rgb - np.array(palette[name], np.float32)) for name in names]
    return names[int(np.argmin(distances))]


def read_background(frames: np.ndarray) -> str:
    """The background name nearest the median colour of the clip's border pixels."""
    border = np.concatenate(
        [frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]], axis=1
    ).reshape(-1, 3)
    return _nearest(np.median(border.astype(np.float32), axis=0), BACKGROUNDS)


def foreground_masks(frames: np.ndarray, background: str) -> np.ndarray:
    """[T, H, W] bool: pixels far from the background colour."""
    reference = np.array(BACKGROUNDS[background], np.float32)
    distance = np.linalg.norm(frames.astype(np.float32) - reference, axis=-1)
    return distance > FOREGROUND_DISTANCE


def read_colour(frames: np.ndarray, masks: np.ndarray) -> "str | None":
    """The palette colour most foreground pixels are nearest to (None without foreground)."""
    pixels = frames[masks].astype(np.float32)
    if len(pixels) == 0:
        return None
    palette = np.array(list(COLOURS.values()), np.float32)
    votes = np.argmin(np.linalg.norm(pixels[:, None] - palette[None], axis=-1), axis=1)
    return list(COLOURS)[int(np.bincount(votes, minlength=len(palette)).argmax())]


def read_shape(mask: np.ndarray) -> "str | None":
    """The shape whose fill ratio (area over bounding box) is nearest the mask's."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 4:
        return None
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    ratio = len(ys) / box
    return min(FILL_RATIOS, key=lambda name: abs(FILL_RATIOS[name] - ratio))


def read_direction(masks: np.ndarray) -> "str | None":
    """The direction of the foreground centroid's larger displacement, first to last frame."""
    present = [t for t in range(len(masks)) if masks[t].any()]
    if len(present) < 2:
        return None
    first, last = (np.argwhere(masks[t]).mean(axis=0) for t in (present[0], present[-1]))
    dy, dx = last - first
    if max(abs(dx), abs(dy)) < 1.0:
        return None  # it did not move
    step = (int(np.sign(dx)), 0) if abs(dx) >= abs(dy) else (0, int(np.sign(dy)))
    return next(name for name, unit in DIRECTIONS.items() if unit == step)


def read_clip(frames: np.ndarray) -> ClipReading:
    """Background, colour, shape (from the middle frame) and direction of [T, H, W, 3] uint8."""
    background = read_background(frames)
    masks = foreground_masks(frames, background)
    return ClipReading(
        background=background,
        colour=read_colour(frames, masks),
        shape=read_shape(masks[len(masks) // 2]),
        direction=read_direction(masks),
        foreground_fraction=float(masks.mean()),
    )
