"""Scenes of one flat shape sliding across a plain background, and their captions.

A scene is drawn at 4x4 supersampling (anti-aliased edges, so the VAE sees the same soft
edges at every size) with the shape's size and speed proportional to the frame's shorter
side: a clip means the same thing at every resolution, which is what the buckets need.
"""

import re
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 235),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle")
# direction -> unit step in (x, y) image coordinates (y grows downwards)
DIRECTIONS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {"black": (0, 0, 0), "gray": (128, 128, 128)}

# Never drawn for training: the demo's tests ask for these to see whether the model combines
# a colour, a shape and a direction it only ever saw apart. Each colour, shape and direction
# still appears in training in other combinations.
HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("red", "circle", "left"),
    ("green", "triangle", "up"),
    ("blue", "square", "right"),
    ("yellow", "triangle", "down"),
    ("white", "circle", "up"),
    ("blue", "circle", "down"),
)

SHAPE_SIZE = 0.3  # side (or diameter) as a fraction of the shorter frame side
SPEED = 0.05  # distance per frame as a fraction of the shorter frame side
SUPERSAMPLE = 4
MARGIN = 1  # pixels kept clear at the frame's edges, so the border is pure background

_CAPTION = re.compile(
    r"a (?P<colour>\w+) (?P<shape>\w+) moving (?P<direction>\w+) on a (?P<background>\w+) background"
)


@dataclass(frozen=True)
class Scene:
    """What a clip shows: the caption's four words."""

    colour: str
    shape: str
    direction: str
    background: str

    def __post_init__(self):
        for field, value, allowed in (
            ("colour", self.colour, COLOURS),
            ("shape", self.shape, SHAPES),
            ("direction", self.direction, DIRECTIONS),
            ("background", self.background, BACKGROUNDS),
        ):
            if value not in allowed:
                raise ConfigError(f"{field} {value!r} is not known; choose one of {list(allowed)}")

    @property
    def combo(self) -> "tuple[str, str, str]":
        return (self.colour, self.shape, self.direction)


def caption(scene: Scene) -> str:
    """The scene's caption, always of this one form."""
    return (
        f"a {scene.colour} {scene.shape} moving {scene.direction} "
        f"on a {scene.background} background"
    )


def parse_caption(text: str) -> Scene:
    """The scene a caption describes; a clear error for any other wording."""
    match = _CAPTION.fullmatch(text.strip().lower())
    if match is None:
        raise ConfigError(
            f"prompt {text!r} is not a demo caption; write it as "
            "'a {colour} {shape} moving {direction} on a {background} background'"
        )
    return Scene(**match.groupdict())


def training_combos() -> "list[tuple[str, str, str]]":
    """Every colour-shape-direction combination except the held-out ones, in a fixed order."""
    return [
        (colour, shape, direction)
        for colour in COLOURS
        for shape in SHAPES
        for direction in DIRECTIONS
        if (colour, shape, direction) not in HELD_OUT
    ]


def shape_coverage(
    shape: str, centre_x: float, centre_y: float, size: float, height: int, width: int
) -> np.ndarray:
    """Fraction of each pixel [H, W] covered by the shape (supersampled)."""
    step = 1.0 / SUPERSAMPLE
    offsets = (np.arange(SUPERSAMPLE) + 0.5) * step
    ys = (np.arange(height)[:, None] + offsets[None, :]).reshape(-1)[:, None]
    xs = (np.arange(width)[:, None] + offsets[None, :]).reshape(-1)[None, :]
    dx, dy = xs - centre_x, ys - centre_y
    half = size / 2
    if shape == "circle":
        inside = dx**2 + dy**2 <= half**2
    elif shape == "square":
        inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    else:  # triangle, apex up: the half-width grows from 0 at the top to `half` at the base
        depth = (dy + half) / size
        inside = (depth >= 0) & (depth <= 1) & (np.abs(dx) <= depth * half)
    coverage = inside.reshape(height, SUPERSAMPLE, width, SUPERSAMPLE).mean(axis=(1, 3))
    return coverage.astype(np.float32)


def render_clip(
    scene: Scene, num_frames: int, height: int, width: int, rng: np.random.Generator
) -> np.ndarray:
    """[T, H, W, 3] uint8: the shape moves at `SPEED` in the scene's direction, entirely in view.

    The start is drawn by `rng` anywhere that keeps the whole path inside the frame; the
    path must fit, so the clip's length is limited by its size along the motion.
    """
    side = min(height, width)
    size = SHAPE_SIZE * side
    travel = SPEED * side * (num_frames - 1)
    step_x, step_y = DIRECTIONS[scene.direction]
    start = []
    for extent, step in ((width, step_x), (height, step_y)):
        room = extent - size - abs(step) * travel - 2 * MARGIN
        if room < 0:
            raise ConfigError(
                f"num_frames {num_frames}: a {height}x{width} frame is too small for the path "
                f"({travel:.0f} px); use at most "
                f"{int((extent - size - 2 * MARGIN) / (SPEED * side)) + 1} frames"
            )
        low = MARGIN + size / 2 + (travel if step < 0 else 0)
        start.append(low + rng.uniform(0, room))
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        centre_x = start[0] + step_x * SPEED * side * t
        centre_y = start[1] + step_y * SPEED * side * t
        frames[t] = render_frame(
            scene.colour, scene.shape, scene.background, centre_x, centre_y, height, width
        )
    return frames


def render_frame(
    colour: str,
    shape: str,
    background: str,
    centre_x: float,
    centre_y: float,
    height: int,
    width: int,
) -> np.ndarray:
    """[H, W, 3] uint8: one `colour` `shape` centred at (`centre_x`, `centre_y`) pixels on
    `background`, at the size a clip of this frame size shows it."""
    size = SHAPE_SIZE * min(height, width)
    rgb = np.array(COLOURS[colour], np.float32)
    back = np.array(BACKGROUNDS[background], np.float32)
    alpha = shape_coverage(shape, centre_x, centre_y, size, height, width)[..., None]
    return np.rint(alpha * rgb + (1 - alpha) * back).astype(np.uint8)
