"""Nodes as plain data: inputs, outputs and an `execute` function, with no ComfyUI import.

`nodes/v3.py` turns each `NodeSpec` into a V3 `io.ComfyNode` inside ComfyUI; tests read the
same declarations to check them by ComfyUI's rules (`schema_problems`) and call `execute`
directly, so the two can never drift apart.
"""

import keyword
import re
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
SOCKET_TYPES = (IMAGE, LATENT, VIDEO, *CUSTOM_TYPES)

NODE_ID_PREFIX = "OpenSora"
CATEGORY_ROOT = "Open-Sora"
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

    def input(self, name: str) -> Input:
        """The input called `name`."""
        return next(item for item in self.inputs if item.name == name)


def check_widgets(node: NodeSpec, values: "dict[str, Any]") -> "bool | str":
    """Combo membership and number ranges of the widget values given (None = linked, skipped).

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
    return True


def validate_values(node: NodeSpec, values: "dict[str, Any]") -> "bool | str":
    """Widget checks (combos, ranges), then the node's own rules, over the values given."""
    result = check_widgets(node, values)
    if result is True and node.validate is not None:
        result = node.validate(**values)
    return result


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


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _widget_problems(item: Input) -> "list[str]":
    problems = []
    where = f"input {item.name!r}"
    if item.type in (INT, FLOAT):
        if item.default is None:
            problems.append(f"{where}: a number widget needs a default")
        low = -float("inf") if item.min is None else item.min
        high = float("inf") if item.max is None else item.max
        if low > high:
            problems.append(f"{where}: min {item.min} > max {item.max}")
        if item.default is not None and not low <= item.default <= high:
            problems.append(f"{where}: default {item.default} outside [{item.min}, {item.max}]")
        if item.type == INT and any(
            isinstance(value, float) for value in (item.default, item.min, item.max, item.step)
        ):
            problems.append(f"{where}: INT default/min/max/step must be integers")
        if item.step is not None and item.step <= 0:
            problems.append(f"{where}: step {item.step} must be positive")
    if item.type == COMBO:
        choices = item.choices()
        if item.default is not None and choices and item.default not in choices:
            problems.append(f"{where}: default {item.default!r} is not an option {choices}")
        if len(set(choices)) != len(choices) or not all(isinstance(c, str) for c in choices):
            problems.append(f"{where}: combo options must be distinct strings")
    if item.type == STRING and item.default is not None and not isinstance(item.default, str):
        problems.append(f"{where}: STRING default must be a string")
    if item.type == BOOLEAN and not isinstance(item.default, bool):
        problems.append(f"{where}: BOOLEAN needs a True/False default")
    if item.control_after_generate and item.type != INT:
        problems.append(f"{where}: control_after_generate needs an INT")
    return problems


def schema_problems(node: NodeSpec) -> "list[str]":
    """Everything about a declaration that ComfyUI would reject or show wrongly (empty = valid)."""
    problems = []
    if not node.node_id.startswith(NODE_ID_PREFIX) or not _IDENTIFIER.match(node.node_id):
        problems.append(f"node id {node.node_id!r}: an identifier starting with {NODE_ID_PREFIX}")
    if not (node.category == CATEGORY_ROOT or node.category.startswith(CATEGORY_ROOT + "/")):
        problems.append(f"category {node.category!r} is not under {CATEGORY_ROOT}/")
    if not node.description.strip() or not node.display_name.strip():
        problems.append("display name and description must not be empty")
    names = [item.name for item in node.inputs]
    if len(set(names)) != len(names):
        problems.append(f"duplicate input names in {names}")
    if node.checked_early is not None and node.checked_early not in names:
        problems.append(f"checked_early {node.checked_early!r} is not an input")
    for item in node.inputs:
        if not _IDENTIFIER.match(item.name) or keyword.iskeyword(item.name):
            problems.append(f"input {item.name!r} is not a Python identifier")
        if not item.tooltip.strip():
            problems.append(f"input {item.name!r} has no tooltip")
        if item.type not in WIDGET_TYPES + SOCKET_TYPES:
            problems.append(f"input {item.name!r}: unknown type {item.type!r}")
        problems.extend(_widget_problems(item))
    if not node.outputs and not node.output_node:
        problems.append("a node without outputs must be an output node")
    for output in node.outputs:
        if output.type not in SOCKET_TYPES + WIDGET_TYPES:
            problems.append(f"output {output.name!r}: unknown type {output.type!r}")
        if not output.tooltip.strip():
            problems.append(f"output {output.name!r} has no tooltip")
    return problems
