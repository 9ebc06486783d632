"""Builds ComfyUI V3 node classes from the pack's declarations (imported inside ComfyUI only).

Each class is a schema and three class methods: `define_schema` (re-read on every
/object_info, so model lists are current), `validate_inputs` (only the node's
`checked_early` input, e.g. whether the model file is installed: ComfyUI shows its message
under every input it names) and `execute` (every combo, range and rule of the node first,
which 0.3.64 leaves to V3 nodes, then VIDEO inputs to frames, the declared function,
frames to VIDEO outputs). No state lives on the classes. `tests/test_node_adapter.py` runs
it on a stand-in of ComfyUI's `io` against what ComfyUI 0.3.64 listed in /object_info.
"""

import dataclasses
import inspect
from fractions import Fraction

from .comfy import InputImpl, Types, io
from .spec import (
    BOOLEAN,
    COMBO,
    CUSTOM_TYPES,
    FLOAT,
    IMAGE,
    INT,
    LATENT,
    STRING,
    VIDEO,
    Input,
    NodeSpec,
    check_before_execute,
    validate_values,
    validated_names,
)
from .values import VideoFrames

_TYPES = {
    INT: io.Int,
    FLOAT: io.Float,
    STRING: io.String,
    BOOLEAN: io.Boolean,
    COMBO: io.Combo,
    IMAGE: io.Image,
    LATENT: io.Latent,
    VIDEO: io.Video,
    **{name: io.Custom(name) for name in CUSTOM_TYPES},
}
# `Input` fields that are ComfyUI's own arguments under the same name (the rest are the
# pack's: `options` is read through `choices()`, `absent` and `legacy` serve validation).
_PASSED = ("tooltip", "default", "min", "max", "step", "multiline", "optional")
_PASSED += ("control_after_generate", "display_name")
_UNSET = {field.name: field.default for field in dataclasses.fields(Input)}


def _input(item: Input):
    """ComfyUI's input for a declaration: only the fields the declaration sets are passed."""
    given = {name: getattr(item, name) for name in _PASSED}
    arguments = {name: value for name, value in given.items() if value != _UNSET[name]}
    if item.type == COMBO:
        # A saved default no longer offered (a model list) falls back to the first entry.
        choices = item.choices()
        if item.default not in choices:
            arguments["default"] = choices[0] if choices else None
        arguments["options"] = choices
    return _TYPES[item.type].Input(item.name, **arguments)


def _from_comfy(spec: NodeSpec, inputs: dict) -> dict:
    """VIDEO inputs arrive as ComfyUI video objects; the declared functions take frames."""
    converted = dict(inputs)
    for item in spec.inputs:
        if item.type == VIDEO and converted.get(item.name) is not None:
            converted[item.name] = converted[item.name].get_components().images
    return converted


def _to_comfy(value):
    if isinstance(value, VideoFrames):
        components = Types.VideoComponents(
            images=value.frames, frame_rate=Fraction(value.fps).limit_denominator(1001)
        )
        return InputImpl.VideoFromComponents(components)
    return value


def make_node(spec: NodeSpec) -> "type[io.ComfyNode]":
    """The V3 node class of one declaration."""

    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id=spec.node_id,
            display_name=spec.display_name,
            category=spec.category,
            description=spec.description,
            inputs=[_input(item) for item in spec.inputs],
            outputs=[
                _TYPES[output.type].Output(display_name=output.name, tooltip=output.tooltip)
                for output in spec.outputs
            ],
            is_output_node=spec.output_node,
        )

    def execute(cls, **inputs) -> io.NodeOutput:
        check_before_execute(spec, inputs)
        outputs = spec.execute(**_from_comfy(spec, inputs))
        return io.NodeOutput(*(_to_comfy(value) for value in outputs))

    def validate_inputs(cls, **inputs):
        return validate_values(spec, inputs)

    # ComfyUI passes validate_inputs only the inputs its signature names, skips its own range
    # checks for those, and shows a failure under each of them: so name one at most.
    names = validated_names(spec)
    parameter = inspect.Parameter.POSITIONAL_OR_KEYWORD
    validate_inputs.__signature__ = inspect.Signature(
        [inspect.Parameter("cls", parameter)]
        + [inspect.Parameter(name, parameter, default=None) for name in names]
    )
    methods = {
        "__doc__": spec.description,
        "define_schema": classmethod(define_schema),
        "execute": classmethod(execute),
    }
    if names:
        methods["validate_inputs"] = classmethod(validate_inputs)
    return type(spec.node_id, (io.ComfyNode,), methods)
