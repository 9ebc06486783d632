"""What a ComfyUI user sees when a workflow is refused: each problem once, under its input.

`comfy_0364_errors` follows ComfyUI 0.3.64's `execution.validate_inputs` (execution.py,
lines 870-950): its own min/max check for every number widget that `validate_inputs` does
not name, then one `custom_validation_failed` entry per input `validate_inputs` names when
it returns a message. So a node names at most one input there (`checked_early`), and every
other rule runs when the node starts (`check_before_execute`), once.
"""

import pytest
from node_rules import node_input, schema_problems
from pack_loader import pack_module

from sora_core.errors import ConfigError

spec_module = pack_module("spec")
SPECS = pack_module("catalog").SPECS
paths = pack_module("paths")
NODES = {node.node_id: node for node in SPECS}


def comfy_0364_errors(node, values: dict) -> "list[tuple[str, str]]":
    """(input name, details) of each error ComfyUI 0.3.64 returns for `values` of `node`."""
    named = spec_module.validated_names(node)
    errors = []
    for item in node.inputs:
        value = values.get(item.name)
        if value is None or item.name in named or item.type not in ("INT", "FLOAT"):
            continue
        if item.min is not None and value < item.min:
            errors.append((item.name, f"Value {value} smaller than min of {item.min}"))
        elif item.max is not None and value > item.max:
            errors.append((item.name, f"Value {value} bigger than max of {item.max}"))
    if named:
        result = spec_module.validate_values(node, {name: values.get(name) for name in named})
        if result is not True:
            errors += [(name, f"{name} - {result}") for name in named if name in values]
    return errors


def _defaults(node) -> dict:
    return {item.name: item.default for item in node.inputs if item.default is not None}


@pytest.fixture
def no_models(tmp_path):
    """A ComfyUI whose model folders are empty: a first start."""
    before = paths._headless_models_dir
    paths.use_models_dir(tmp_path)
    yield tmp_path
    paths.use_models_dir(before)


@pytest.mark.parametrize("node", SPECS, ids=lambda node: node.node_id)
def test_validate_inputs_names_at_most_one_input(node):
    assert len(spec_module.validated_names(node)) <= 1
    assert schema_problems(node) == []


# (node, bad values, the input the one message must stand under, text it must hold)
BEFORE_RUNNING = [
    ("OpenSoraSampler", {"steps": 0}, "steps", "smaller than min of 1"),
    ("OpenSoraSampler", {"width": 5000}, "width", "bigger than max of 4096"),
    (
        "OpenSoraTransformerLoader",
        {"model_name": "OpenSora-STDiT-v3/"},
        "model_name",
        "hf download",
    ),
    ("OpenSoraVAELoader", {"vae_name": "OpenSora-VAE-v1.2/"}, "vae_name", "hf download"),
    ("OpenSoraT5Loader", {"t5_name": "t5xxl_fp16.safetensors"}, "t5_name", "hf download"),
    ("OpenSoraMaskStrategy", {"raw_strategy": "0,x"}, "raw_strategy", "raw_strategy:"),
]


@pytest.mark.parametrize(("node_id", "bad", "field", "text"), BEFORE_RUNNING)
def test_a_bad_value_is_reported_once_under_its_own_input(no_models, node_id, bad, field, text):
    node = NODES[node_id]
    errors = comfy_0364_errors(node, {**_defaults(node), **bad})
    assert len(errors) == 1, errors
    assert errors[0][0] == field and text in errors[0][1], errors


# Rules over several inputs, and combos (0.3.64 checks no V3 combo): once, when the node
# starts and before it does any work, the message starting with the input's name.
WHEN_STARTING = [
    ("OpenSoraSampler", {"sampler_name": "euler"}, "sampler_name:"),
    ("OpenSoraSampler", {"width": 32, "height": 0}, "width/height:"),
    ("OpenSoraSampler", {"width": 40, "height": 32}, "width:"),
    ("OpenSoraSampler", {"aspect_ratio": "5:7"}, "aspect_ratio:"),
    ("OpenSoraVAELoader", {"tile_size": 1}, "tile_size:"),
    ("OpenSoraMaskStrategy", {"preset": "edit", "edit_ratio": 0.0}, "edit_ratio:"),
    ("OpenSoraMaskStrategy", {"preset": "warp"}, "preset:"),
    ("OpenSoraTextEncode", {"release": "1.1", "aesthetic_score": 6.5}, "aesthetic_score:"),
]


@pytest.mark.parametrize(("node_id", "bad", "field"), WHEN_STARTING)
def test_other_problems_are_reported_once_when_the_node_starts(no_models, node_id, bad, field):
    node = NODES[node_id]
    values = {**_defaults(node), **bad}
    if node_id == "OpenSoraVAELoader":
        values["vae_name"] = None  # linked / not the problem here
    assert comfy_0364_errors(node, values) == []
    with pytest.raises(ConfigError) as caught:
        spec_module.check_before_execute(node, values)
    assert str(caught.value).startswith(field), caught.value


def test_workflow_values_pass_every_check_when_the_models_are_installed(tiny_models_dir):
    for node in SPECS:
        values = _defaults(node)
        for item in node.inputs:
            if item.type == "COMBO" and item.absent is not None:
                values[item.name] = item.choices()[0] if item.choices() else None
        assert comfy_0364_errors(node, values) == []
        spec_module.check_before_execute(node, values)


EXPECTED_DOWNLOADS = {
    "OpenSoraTransformerLoader": (
        "OpenSora-STDiT-v3/",
        "hf download hpcai-tech/OpenSora-STDiT-v3 --local-dir "
        "ComfyUI/models/opensora/OpenSora-STDiT-v3",
    ),
    "OpenSoraVAELoader": (
        "OpenSora-VAE-v1.2/",
        "hf download hpcai-tech/OpenSora-VAE-v1.2 --local-dir ComfyUI/models/vae/OpenSora-VAE-v1.2",
    ),
    "OpenSoraT5Loader": (
        "t5xxl_fp16.safetensors",
        "hf download comfyanonymous/flux_text_encoders t5xxl_fp16.safetensors --local-dir "
        "ComfyUI/models/text_encoders",
    ),
}


@pytest.mark.parametrize("node_id", EXPECTED_DOWNLOADS)
def test_first_start_says_which_file_from_where_into_which_folder(no_models, node_id):
    node = NODES[node_id]
    name, command = EXPECTED_DOWNLOADS[node_id]
    (message,) = [details for _, details in comfy_0364_errors(node, {node.checked_early: name})]
    assert "nothing is installed in models/" in message
    assert f"`{command}`" in message and "press R" in message


def test_an_unknown_name_gets_the_folders_and_the_usual_release(tiny_models_dir):
    node = NODES["OpenSoraTransformerLoader"]
    message = spec_module.validate_values(node, {"model_name": "my_finetune.safetensors"})
    assert message.startswith("model_name: 'my_finetune.safetensors' is not installed")
    assert "tiny_stdit3.safetensors" in message  # what is there
    assert "in models/opensora or models/diffusion_models" in message
    assert "hf download hpcai-tech/OpenSora-STDiT-v3" in message


# --- aspect ratios ------------------------------------------------------------------------
sampling = pack_module("sampling")


def test_aspect_labels_say_the_shape_of_every_size_they_give():
    from sora_core.aspect_tables import ASPECT_RATIOS

    sampler = NODES["OpenSoraSampler"]
    labels = node_input(sampler, "aspect_ratio").choices()
    assert node_input(sampler, "aspect_ratio").default == "16:9 landscape (H:W 9:16)"
    for label in labels:
        width, height = map(int, label.split()[0].split(":"))
        for resolution in ASPECT_RATIOS:
            try:
                size_h, size_w = sampling.clip_size(resolution, label, 0, 0)
            except ConfigError:
                continue  # not in this resolution's table
            shape = "landscape" if size_w > size_h else "portrait" if size_w < size_h else "square"
            assert shape in label, (label, resolution, size_h, size_w)
            # Open-Sora rounds the small tables coarsely (144p 50:27 is 277x132).
            assert abs(size_w / size_h / (width / height) - 1) < 0.15, (label, size_h, size_w)


def test_workflows_saved_with_open_soras_keys_still_load_and_give_the_same_size():
    sampler = NODES["OpenSoraSampler"]
    old = {**_defaults(sampler), "aspect_ratio": "9:16"}
    assert comfy_0364_errors(sampler, old) == []
    spec_module.check_before_execute(sampler, old)
    assert sampling.clip_size("240p", "9:16", 0, 0) == (240, 426)
    assert sampling.clip_size("240p", "16:9 landscape (H:W 9:16)", 0, 0) == (240, 426)
    assert sampling.clip_size("480p", "4:3", 0, 0) == sampling.clip_size(
        "480p", "3:4 portrait (H:W 4:3)", 0, 0
    )
