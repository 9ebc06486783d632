"""The V3 adapter (`nodes/v3.py`) without ComfyUI: each declaration, passed through it to a
stand-in of ComfyUI's `io` module that records the arguments, gives the inputs and outputs
that ComfyUI 0.3.64 listed in /object_info for the pack (`comfy_graphs/object_info_0.3.64.json`).
"""

import importlib
import sys
import types

import pytest
from node_rules import node_input
from pack_loader import PACK, pack_module
from workflow_graphs import core_definitions

SPECS = pack_module("catalog").SPECS
SAVED = core_definitions()
# What a saved entry holds besides an input's declared fields (tooltips were dropped on
# saving; `multiselect` is ComfyUI's own; `optional` is the category).
NOT_DECLARED = {"tooltip", "optional", "multiselect"}


class _Type:
    """A stand-in `io.<Type>`: `Input`/`Output` return what they were given."""

    def __init__(self, io_type: str):
        self.io_type = io_type

    def Input(self, id: str, **options):
        return types.SimpleNamespace(type=self.io_type, id=id, options=options)

    def Output(self, **options):
        return types.SimpleNamespace(type=self.io_type, options=options)


@pytest.fixture(scope="module")
def v3():
    io = types.SimpleNamespace(
        **{name: _Type(name.upper()) for name in ("Int", "Float", "String", "Boolean", "Combo")},
        Image=_Type("IMAGE"),
        Latent=_Type("LATENT"),
        Video=_Type("VIDEO"),
        Custom=_Type,
        Schema=dict,
        ComfyNode=object,
        NodeOutput=tuple,
    )
    api = types.ModuleType("comfy_api.latest")
    api.ComfyExtension, api.InputImpl, api.Types, api.io, api.ui = object, None, None, io, None
    added = {"comfy_api": types.ModuleType("comfy_api"), "comfy_api.latest": api}
    sys.modules.update(added)
    try:
        yield importlib.import_module(f"{PACK}.nodes.v3")
    finally:
        for name in (*added, f"{PACK}.nodes.v3", f"{PACK}.nodes.comfy"):
            sys.modules.pop(name, None)


def _shown(options: dict, listed_at_runtime: bool) -> dict:
    """The fields to compare: set ones, without those that depend on installed files."""
    dropped = NOT_DECLARED | ({"options", "default"} if listed_at_runtime else set())
    return {
        key: value
        for key, value in options.items()
        if key not in dropped and value is not None and not (key == "multiline" and not value)
    }


@pytest.mark.parametrize("node", SPECS, ids=lambda node: node.node_id)
def test_the_adapter_gives_the_inputs_and_outputs_comfyui_listed(v3, node):
    schema = v3.make_node(node).define_schema()
    saved = SAVED[node.node_id]
    assert (schema["node_id"], schema["display_name"]) == (node.node_id, saved["display_name"])
    assert schema["is_output_node"] == saved["output_node"]
    inputs = {entry.id: entry for entry in schema["inputs"]}
    for category in ("required", "optional"):
        names = [item.name for item in node.inputs if item.optional == (category == "optional")]
        assert saved["input_order"].get(category, []) == names, category
        for name in names:
            kind, *options = saved["input"][category][name]
            runtime = callable(node_input(node, name).options)
            assert inputs[name].type == kind, name
            assert _shown(inputs[name].options, runtime) == _shown(
                options[0] if options else {}, runtime
            ), name
    assert [output.type for output in schema["outputs"]] == saved["output"]
    assert [output.options["display_name"] for output in schema["outputs"]] == saved["output_name"]
