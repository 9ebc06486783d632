"""ComfyUI's rules for a node declaration, checked on the pack's `NodeSpec`s without ComfyUI.

`schema_problems` lists everything ComfyUI 0.3.64 (and its frontend) would reject or show
wrongly: ids, categories, tooltips, defaults inside ranges, combo defaults among the
options, and only the fields each type takes (the adapter, `nodes/v3.py`, passes every
field a declaration sets to ComfyUI's `io.<Type>.Input`).
"""

import keyword
import re

from pack_loader import pack_module

spec = pack_module("spec")
NODE_ID_PREFIX = "OpenSora"
CATEGORY_ROOT = "Open-Sora"
SOCKET_TYPES = (spec.IMAGE, spec.LATENT, spec.VIDEO, *spec.CUSTOM_TYPES)
NUMBERS = (spec.INT, spec.FLOAT)
# Fields that only some types take (ComfyUI's Input classes have no such argument otherwise).
FIELD_TYPES = {
    "default": spec.WIDGET_TYPES,
    "min": NUMBERS,
    "max": NUMBERS,
    "step": NUMBERS,
    "multiline": (spec.STRING,),
    "control_after_generate": (spec.INT,),
    "options": (spec.COMBO,),
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def node_input(node, name: str):
    """The input of `node` called `name`."""
    return next(item for item in node.inputs if item.name == name)


def _field_problems(item) -> "list[str]":
    unset = type(item).__dataclass_fields__
    return [
        f"input {item.name!r}: {field} is not an argument of a {item.type} input"
        for field, types in FIELD_TYPES.items()
        if getattr(item, field) != unset[field].default and item.type not in types
    ]


def _widget_problems(item) -> "list[str]":
    problems = []
    where = f"input {item.name!r}"
    if item.type in NUMBERS:
        if item.default is None:
            problems.append(f"{where}: a number widget needs a default")
        low = -float("inf") if item.min is None else item.min
        high = float("inf") if item.max is None else item.max
        if low > high:
            problems.append(f"{where}: min {item.min} > max {item.max}")
        if item.default is not None and not low <= item.default <= high:
            problems.append(f"{where}: default {item.default} outside [{item.min}, {item.max}]")
        if item.type == spec.INT and any(
            isinstance(value, float) for value in (item.default, item.min, item.max, item.step)
        ):
            problems.append(f"{where}: INT default/min/max/step must be integers")
        if item.step is not None and item.step <= 0:
            problems.append(f"{where}: step {item.step} must be positive")
    if item.type == spec.COMBO:
        choices = item.choices()
        if item.default is not None and choices and item.default not in choices:
            problems.append(f"{where}: default {item.default!r} is not an option {choices}")
        if len(set(choices)) != len(choices) or not all(isinstance(c, str) for c in choices):
            problems.append(f"{where}: combo options must be distinct strings")
    if item.type == spec.STRING and item.default is not None and not isinstance(item.default, str):
        problems.append(f"{where}: STRING default must be a string")
    if item.type == spec.BOOLEAN and not isinstance(item.default, bool):
        problems.append(f"{where}: BOOLEAN needs a True/False default")
    return problems


def schema_problems(node) -> "list[str]":
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
        if item.type not in spec.WIDGET_TYPES + SOCKET_TYPES:
            problems.append(f"input {item.name!r}: unknown type {item.type!r}")
        problems.extend(_field_problems(item))
        problems.extend(_widget_problems(item))
    if not node.outputs and not node.output_node:
        problems.append("a node without outputs must be an output node")
    for output in node.outputs:
        if output.type not in SOCKET_TYPES + spec.WIDGET_TYPES:
            problems.append(f"output {output.name!r}: unknown type {output.type!r}")
        if not output.tooltip.strip():
            problems.append(f"output {output.name!r} has no tooltip")
    return problems
