"""A first frame drawn the way the embedded demo model's training clips are drawn, so its
image-to-video workflow runs with nothing to upload."""

from .spec import COMBO, FLOAT, IMAGE, INT, Input, NodeSpec, Output

CATEGORY = "Open-Sora/demo"


def draw_demo_frame(
    colour: str, shape: str, background: str, x: float, y: float, width: int, height: int
) -> tuple:
    """One frame as ComfyUI's IMAGE (1, H, W, 3) in [0, 1]."""
    import torch

    from sora_core.demo.shapes import render_frame

    pixels = render_frame(colour, shape, background, x * width, y * height, height, width)
    return (torch.from_numpy(pixels).float().div(255)[None],)


def _choices(name: str) -> "list[str]":
    from sora_core.demo import shapes

    return list(getattr(shapes, name))


def _position(name: str, default: float, axis: str) -> Input:
    return Input(
        name,
        FLOAT,
        f"Centre of the shape across the frame's {axis}: 0 at the {'left' if axis == 'width' else 'top'}"
        f" edge, 1 at the {'right' if axis == 'width' else 'bottom'} edge.",
        default=default,
        min=0.0,
        max=1.0,
        step=0.01,
    )


def _side(name: str) -> Input:
    return Input(
        name,
        INT,
        f"Frame {name} in pixels (the demo model generates 64x64).",
        default=64,
        min=16,
        max=1024,
        step=8,
    )


DEMO_FRAME = NodeSpec(
    node_id="OpenSoraDemoFrame",
    display_name="Open-Sora Demo Frame",
    category=CATEGORY,
    description="Draws one flat shape on a plain background, as in the embedded demo model's "
    "training clips: a first frame for image-to-video with the demo model (any IMAGE works "
    "too; the demo model only knows these shapes and colours).",
    inputs=(
        Input("colour", COMBO, "Colour of the shape.", default="red", options=_choices("COLOURS")),
        Input("shape", COMBO, "The shape.", default="square", options=_choices("SHAPES")),
        Input(
            "background",
            COMBO,
            "Background colour.",
            default="black",
            options=_choices("BACKGROUNDS"),
        ),
        _position("x", 0.3, "width"),
        _position("y", 0.5, "height"),
        _side("width"),
        _side("height"),
    ),
    outputs=(Output(IMAGE, "image", "The frame (1 x height x width)."),),
    execute=draw_demo_frame,
)

SPECS = (DEMO_FRAME,)
