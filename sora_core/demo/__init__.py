"""The embedded demo model's world: procedural clips of simple shapes and their captions.

`shapes` holds the caption vocabulary, the colour-shape-direction combinations held out of
training, and the renderer; `dataset` writes a training set in Open-Sora's CSV format
(`python -m sora_core.demo.dataset`).
"""

from .shapes import (
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

__all__ = [
    "BACKGROUNDS",
    "COLOURS",
    "DIRECTIONS",
    "HELD_OUT",
    "SHAPES",
    "Scene",
    "caption",
    "parse_caption",
    "render_clip",
    "training_combos",
]
