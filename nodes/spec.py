"""Nodes as plain data: inputs, outputs and an `execute` function, with no ComfyUI import.

`nodes/v3.py` turns each `NodeSpec` into a V3 `io.ComfyNode` inside ComfyUI; tests read the
same declarations to check them by ComfyUI's rules (`tests/node_rules.py`) and call
`execute` directly, so the two can never drift apart. Besides the declarations, this module
holds only the checks the adapter runs inside ComfyUI 0.3.64 (`validate_values`,
`validated_names`, `check_before_execute`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sora_core.errors import ConfigError

# ComfyUI's built-in socket and widget types the pack uses (`comfy_api.latest._io`).
INT, FLOAT, STRING, BOOLEAN, COMBO = "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"
IMAGE, LATENT, VIDEO = "IMAGE", "LATENT", "VIDEO"
WIDGET_TYPES = (INT, FLOAT, STRING, BOOLEAN, COMBO)
# The pack's own socket types: pipeline objects that only its nodes understand.
MODEL = "OPENSORA_MODEL"
VAE = "OPENSORA_VAE"
TEXT_ENCODER = "OPENSORA_TEXT_ENCODER"
CONDITIONING = "OPENSORA_CONDITIONING"
MASK_STRATEGY = "OPENSORA_MASK_STRATEGY"
CUSTOM_TYPES = (MODEL, VAE, TEXT_ENCODER, CONDITIONING, MASK_STRATEGY)

# ComfyUI caps seeds at 0xffffffffffffffff; torch generators take 64-bit seeds.
MAX_SEED = 0xFFFFFFFFFFFFFFFF

Options = Sequence[str] | Callable[[], Sequence[str]]


@dataclass(frozen=True)
class Input:
    """One input: a widget (INT/FLOAT/STRING/BOOLEAN/COMBO) or a socket (IMAGE, LATENT, ...)."""

    name: str
    type: str
    tooltip: str
    default: Any = None
    min: "float | None" = None
    max: "float | None" = None
    step: "float | None" = None
    options: Options = ()
    multiline: bool = False
    optional: bool = False
    control_after_generate: bool = False
    display_name: "str | None" = None
    # A combo's message for a value it does not offer (model lists: what to download).
    absent: "Callable[[str], str] | None" = None
    # Combo values older versions offered: saved workflows keep them, the node maps them.
    legacy: "tuple[str, ...]" = ()

    def choices(self) -> "list[str]":
        """The combo options now (file lists are read when ComfyUI asks for the schema)."""
        options = self.options() if callable(self.options) else self.options
        return list(options)


@dataclass(frozen=True)
class Output:
    """One output socket."""

    type: str
    name: str
    tooltip: str


@dataclass(frozen=True)
class NodeSpec:
    """A node: its ComfyUI schema fields and the plain functions behind it.

    `execute(**inputs)` returns a tuple with one value per output; `validate(**widgets)`
    returns True or a message naming the bad field. ComfyUI 0.3.64 shows a `validate_inputs`
    message once under every input that method names, so it names only `checked_early`
    (at most one input, checked before anything runs, e.g. the model file); every other
    check runs when the node starts (`check_before_execute`), and ComfyUI checks ranges
    itself, each under its own input.
    """

    node_id: str
    display_name: str
    category: str
    description: str
    inputs: "tuple[Input, ...]"
    outputs: "tuple[Output, ...]"
    execute: Callable[..., tuple]
    validate: "Callable[..., bool | str] | None" = None
    output_node: bool = False
    checked_early: "str | None" = None


def validate_values(node: NodeSpec, values: "dict[str, Any]") -> "bool | str":
    """Combo membership and number ranges of the widget values given (None = linked, skipped),
    then the node's own rules: True, or a message starting with the field's name.

    ComfyUI 0.3.64 never checks V3 combo values, and skips its own range check for every
    input a node's `validate_inputs` names, so the adapter checks both here.
    """
    for item in node.inputs:
        value = values.get(item.name)
        if value is None:
            continue
        if item.type == COMBO:
            choices = item.choices()
            if value not in choices and value not in item.legacy:
                if item.absent is not None:
                    return f"{item.name}: {item.absent(value)}"
                shown = choices if len(choices) <= 12 else [*choices[:12], "..."]
                return f"{item.name}: {value!r} is not one of {shown}"
        elif item.type in (INT, FLOAT):
            if item.min is not None and value < item.min:
                return f"{item.name}: {value} is below the minimum {item.min}"
            if item.max is not None and value > item.max:
                return f"{item.name}: {value} is above the maximum {item.max}"
    return True if node.validate is None else node.validate(**values)


def validated_names(node: NodeSpec) -> "list[str]":
    """The inputs ComfyUI's `validate_inputs` receives: `checked_early`, or none."""
    return [node.checked_early] if node.checked_early else []


def check_before_execute(node: NodeSpec, inputs: "dict[str, Any]") -> None:
    """Every widget check and rule on the values a node runs with; ConfigError names the field.

    Linked values (a widget turned into a socket) are checked here too, and so are combos,
    which ComfyUI 0.3.64 does not check for V3 nodes."""
    widgets = {
        item.name: inputs.get(item.name) for item in node.inputs if item.type in WIDGET_TYPES
    }
    problem = validate_values(node, widgets)
    if problem is not True:
        raise ConfigError(str(problem))
