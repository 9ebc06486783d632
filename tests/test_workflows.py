"""The bundled workflows: what the frontend loads, what "Export (API)" gives, and that the
API twins run through the nodes' functions on tiny models (ComfyUI's core nodes that the
workflows use are played by small stand-ins below)."""

import json

import av
import numpy as np
import pytest
import torch
from pack_loader import pack_module
from PIL import Image
from workflow_graphs import (
    CONTROL_VALUES,
    NOTE_TYPES,
    TINY_MODELS,
    WORKFLOWS_DIR,
    core_definitions,
    input_files,
    input_spec,
    read_api_twin,
    read_workflow,
    ui_to_api,
    widget_slots,
    with_tiny_models,
    workflow_names,
    write_input_file,
)

from sora_core.demo import embedded
from sora_core.demo.analysis import read_clip
from sora_core.demo.shapes import parse_caption

spec_module = pack_module("spec")
values = pack_module("values")
paths = pack_module("paths")
sampling = pack_module("sampling")
paths = pack_module("paths")
PACK_NODES = {node.node_id: node for node in pack_module("catalog").SPECS}
DEFINITIONS = core_definitions()
USES = {
    "text_to_video",
    "image_to_video",
    "connect",
    "extend_video",
    "edit_video",
    "long_video",
    "text_to_image",
    "train_lora",
    "pixart_text_to_image",
    "dit_class_to_image",
    "demo_text_to_video",
    "demo_image_to_video",
}
# Workflows of the other models Open-Sora runs; the rest are Open-Sora 1.2's.
ZOO = {"pixart_text_to_image", "dit_class_to_image"}
IMAGES = {"text_to_image", *ZOO}
# Workflows that run the embedded demo model: they name its files and run as shipped.
DEMO = {"demo_text_to_video", "demo_image_to_video"}
# ComfyUI core nodes the workflows may use, with their inputs in 0.3.64 (from /object_info).
CORE_NODES = {
    "LoadImage": ["image"],
    "LoadVideo": ["file"],
    "ImageBatch": ["image1", "image2"],
    "GetVideoComponents": ["video"],
    "ImageFromBatch": ["image", "batch_index", "length"],
    "CreateVideo": ["images", "fps", "audio"],
    "SaveVideo": ["video", "filename_prefix", "format", "codec"],
    "SaveImage": ["images", "filename_prefix"],
    "PreviewAny": ["source"],
}
# Model files the loaders name: the official releases as ComfyUI lists them.
RELEASE_FILES = {
    "model_name": {"OpenSora-STDiT-v3/", "PixArt-XL-2-512x512.pth", "DiT-XL-2-256x256.pt"},
    "vae_name": {"OpenSora-VAE-v1.2/", "sd-vae-ft-ema/"},
    "t5_name": {"t5xxl_fp16.safetensors", "t5xxl_fp8_e4m3fn.safetensors", "t5-v1_1-xxl/"},
}
DEMO_FILES = {
    "model_name": {paths.EMBEDDED_CHOICES["transformer"]},
    "vae_name": {paths.EMBEDDED_CHOICES["vae"]},
    "t5_name": {paths.EMBEDDED_CHOICES["text_encoder"]},
}
# Widgets the frontend adds and sends, not in /object_info (the server ignores them).
FRONTEND_ONLY = {"PreviewAny": ("preview",)}
UPLOAD_COMBOS = {("LoadImage", "image"), ("LoadVideo", "file")}
WORKFLOWS = workflow_names()


def _nodes(workflow: dict) -> "list[dict]":
    return [node for node in workflow["nodes"] if node["type"] not in NOTE_TYPES]


def _named_widgets(node: dict) -> "dict[str, object]":
    slots = widget_slots(DEFINITIONS[node["type"]])
    return {name: value for name, value in zip(slots, node.get("widgets_values") or []) if name}


# --- what is shipped ----------------------------------------------------------------------
def test_one_workflow_per_use_each_with_thumbnail_and_api_twin():
    assert set(WORKFLOWS) == USES
    assert {path.stem for path in (WORKFLOWS_DIR / "api").glob("*.json")} == USES
    for name in WORKFLOWS:
        thumbnail = WORKFLOWS_DIR / f"{name}.jpg"
        assert thumbnail.stat().st_size < 150_000, name
        with Image.open(thumbnail) as image:
            assert image.format == "JPEG" and image.width >= 480


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_was_saved_by_the_frontend(name):
    workflow = read_workflow(name)
    assert workflow["version"] == 0.4 and workflow["extra"]["frontendVersion"]
    assert workflow["last_node_id"] == max(node["id"] for node in workflow["nodes"])
    linked = {(link[0], link[3], link[4]) for link in workflow["links"]}
    for node in workflow["nodes"]:
        assert len(node["pos"]) == 2 and len(node["size"]) == 2
        for slot, socket in enumerate(node.get("inputs", [])):
            if socket["link"] is not None:
                assert (socket["link"], node["id"], slot) in linked


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_uses_only_pack_and_listed_core_nodes(name):
    for node in _nodes(read_workflow(name)):
        assert node["type"] in PACK_NODES or node["type"] in CORE_NODES, node["type"]
        for socket in node.get("inputs", []):
            assert socket["name"] in _input_names(node["type"]), (node["type"], socket["name"])


def _input_names(node_type: str) -> "list[str]":
    if node_type in PACK_NODES:
        return [item.name for item in PACK_NODES[node_type].inputs]
    return CORE_NODES[node_type]


def test_saved_definitions_match_the_core_list_and_the_pack_declarations():
    for node_type, names in CORE_NODES.items():
        order = DEFINITIONS[node_type]["input_order"]
        assert order["required"] + order.get("optional", []) == names
    for node_type, node in PACK_NODES.items():
        widgets = [item for item in node.inputs if item.type in spec_module.WIDGET_TYPES]
        declared = []
        for item in sorted(widgets, key=lambda item: item.optional):
            declared += [item.name, None] if item.control_after_generate else [item.name]
        # On a change to the node: re-save the entry from /object_info and re-export (tools/).
        assert widget_slots(DEFINITIONS[node_type]) == declared, node_type


# What each workflow's note must say besides the folders: the released files it names.
NOTED_FILES = {
    "pixart_text_to_image": (
        "PixArt-XL-2-512x512.pth",
        "stabilityai/sd-vae-ft-ema",
        "DeepFloyd/t5-v1_1-xxl",
        "t5xxl_fp16.safetensors",
    ),
    "dit_class_to_image": ("DiT-XL-2-256x256.pt", "stabilityai/sd-vae-ft-ema"),
}
OPEN_SORA_FILES = (
    "hpcai-tech/OpenSora-STDiT-v3",
    "hpcai-tech/OpenSora-VAE-v1.2",
    "DeepFloyd/t5-v1_1-xxl",
    "t5xxl_fp16.safetensors",
)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_canvas_note_says_which_model_files_go_where(name):
    notes = [node for node in read_workflow(name)["nodes"] if node["type"] == "MarkdownNote"]
    assert len(notes) == 1
    text = notes[0]["widgets_values"][0]
    if name in DEMO:
        for expected in ("none to add", "`a {colour} {shape} moving {direction} on a", "64x64"):
            assert expected in text
        return
    folders = ["models/opensora/", "models/diffusion_models/", "models/vae/"]
    if any(node["type"] == "OpenSoraT5Loader" for node in _nodes(read_workflow(name))):
        folders.append("models/text_encoders/")
    for expected in (*folders, *NOTED_FILES.get(name, OPEN_SORA_FILES)):
        assert expected in text


# --- what the canvas shows when a workflow opens ------------------------------------------
# Nodes that grow once a picture or video is loaded or saved, and to about what height.
GROWN_HEIGHT = {"LoadImage": 300, "LoadVideo": 300, "SaveImage": 300, "SaveVideo": 300}
# A 1680x1050 screen's canvas in the ComfyUI frontend (browser and frontend bars taken off).
CANVAS = (1600, 860)
TITLE = 30


def _screen_box(node: dict, ds: dict) -> "tuple[float, float, float, float]":
    width, height = node["size"]
    height = max(height, GROWN_HEIGHT.get(node["type"], 0))
    (x, y), scale, (dx, dy) = node["pos"], ds["scale"], ds["offset"]
    return (
        (x + dx) * scale,
        (y - TITLE + dy) * scale,
        (x + width + dx) * scale,
        (y + height + dy) * scale,
    )


@pytest.mark.parametrize("name", WORKFLOWS)
def test_whole_graph_is_in_view_when_it_opens_and_nothing_overlaps(name):
    workflow = read_workflow(name)
    ds = workflow["extra"]["ds"]
    boxes = {node["id"]: _screen_box(node, ds) for node in workflow["nodes"]}
    for node_id, (left, top, right, bottom) in boxes.items():
        assert 0 <= left and right <= CANVAS[0] and 0 <= top and bottom <= CANVAS[1], node_id
    ids = sorted(boxes)
    for index, first in enumerate(ids):
        for second in ids[index + 1 :]:
            a, b = boxes[first], boxes[second]
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, (name, first, second)
    assert ds["scale"] >= 0.7  # the note stays readable


@pytest.mark.parametrize("name", WORKFLOWS)
def test_note_agrees_with_the_readme_that_240p_takes_pictures(name):
    workflow = read_workflow(name)
    (note,) = [n["widgets_values"][0] for n in workflow["nodes"] if n["type"] == "MarkdownNote"]
    assert "multiples of 8" not in note and "is not)" not in note
    if any(node["type"] in ("LoadImage", "LoadVideo") for node in workflow["nodes"]):
        assert "240p works too" in note


# --- widget values: order and range -------------------------------------------------------
@pytest.mark.parametrize("name", WORKFLOWS)
def test_widget_values_are_in_frontend_order_and_in_range(name):
    for node in _nodes(read_workflow(name)):
        definition = DEFINITIONS[node["type"]]
        slots = widget_slots(definition)
        stored = node.get("widgets_values") or []
        assert len(stored) == len(slots), node["type"]
        for index, (slot, value) in enumerate(zip(slots, stored)):
            if slot is None:
                # The frontend-only value after a seed or an upload combo.
                extra = (
                    CONTROL_VALUES if index and _controls(definition, slots[index - 1]) else None
                )
                assert value in extra if extra else isinstance(value, str), (node["type"], value)
            else:
                files = DEMO_FILES if name in DEMO else RELEASE_FILES
                _check_value(node["type"], slot, value, definition, files)
        if node["type"] in PACK_NODES:
            widgets = {k: v for k, v in _named_widgets(node).items() if k not in RELEASE_FILES}
            assert spec_module.validate_values(PACK_NODES[node["type"]], widgets) is True


def _controls(definition: dict, name: "str | None") -> bool:
    return name is not None and bool(input_spec(definition, name)[1].get("control_after_generate"))


def _check_value(
    node_type: str, name: str, value, definition: dict, files: dict = RELEASE_FILES
) -> None:
    kind, options = input_spec(definition, name)
    where = f"{node_type}.{name} = {value!r}"
    if name in files:
        assert value in files[name], where
    elif kind == "COMBO" or isinstance(kind, list):
        choices = kind if isinstance(kind, list) else options["options"]
        assert (node_type, name) in UPLOAD_COMBOS or value in choices, where
    elif kind in ("INT", "FLOAT"):
        assert isinstance(value, int if kind == "INT" else (int, float)), where
        assert not isinstance(value, bool), where
        assert options.get("min", -np.inf) <= value <= options.get("max", np.inf), where
    elif kind == "BOOLEAN":
        assert isinstance(value, bool), where
    else:
        assert isinstance(value, str), where


@pytest.mark.parametrize("name", sorted(DEMO))
def test_demo_workflows_use_the_demo_models_trained_settings(name):
    nodes = {node["type"]: _named_widgets(node) for node in _nodes(read_workflow(name))}
    sampler, config = nodes["OpenSoraSampler"], embedded.embedded_config()
    assert (sampler["steps"], sampler["cfg"]) == (
        config["scheduler"]["num_sampling_steps"],
        config["scheduler"]["cfg_scale"],
    )
    assert (sampler["height"], sampler["width"]) == config["image_size"]
    assert (sampler["num_frames"], sampler["fps"]) == (config["num_frames"], config["fps"])
    text = nodes["OpenSoraTextEncode"]
    assert text["aesthetic_score"] == -1.0  # the training captions carry no score
    parse_caption(text["prompt"])  # a caption of the one form it was trained on
    assert nodes["OpenSoraT5Loader"]["max_length"] == config["text_encoder"]["model_max_length"]


@pytest.mark.parametrize("name", sorted(set(WORKFLOWS) - ZOO - DEMO))
def test_defaults_are_open_sora_1_2s(name):
    nodes = {node["type"]: _named_widgets(node) for node in _nodes(read_workflow(name))}
    sampler = nodes.get("OpenSoraSampler") or nodes["OpenSoraLongVideo"]
    assert (sampler["sampler_name"], sampler["steps"], sampler["cfg"]) == ("rflow", 30, 7.0)
    assert sampler["aspect_ratio"] == "16:9 landscape (H:W 9:16)" and sampler["fps"] == 24
    assert (sampler["width"], sampler["height"]) == (0, 0)
    text = nodes["OpenSoraTextEncode"]
    assert (text["release"], text["aesthetic_score"]) == ("1.2", 6.5)
    assert nodes["OpenSoraT5Loader"]["max_length"] == 300
    assert sampler["resolution"] in ("240p", "360p")
    if name == "text_to_image":
        assert sampler["num_frames"] == 1 and "SaveImage" in nodes
    else:
        assert sampler["num_frames"] == 51 and "SaveVideo" in nodes


# Open-Sora's configs/pixart/inference/1x512x512.py and configs/dit/inference/1x256x256-class.py
REFERENCE_SETTINGS = {
    "pixart_text_to_image": {"cfg": 7.0, "size": 512, "transformer": "PixArt-XL-2-512x512.pth"},
    "dit_class_to_image": {"cfg": 4.0, "size": 256, "transformer": "DiT-XL-2-256x256.pt"},
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_image_model_workflows_follow_the_reference_configs(name):
    nodes = {node["type"]: _named_widgets(node) for node in _nodes(read_workflow(name))}
    expected = REFERENCE_SETTINGS[name]
    sampler = nodes["OpenSoraSampler"]
    assert (sampler["sampler_name"], sampler["steps"], sampler["cfg"]) == (
        "dpm-solver",
        20,
        expected["cfg"],
    )
    assert (sampler["width"], sampler["height"], sampler["num_frames"]) == (
        expected["size"],
        expected["size"],
        1,
    )
    assert nodes["OpenSoraTransformerLoader"]["model_name"] == expected["transformer"]
    assert nodes["OpenSoraVAELoader"]["vae_name"] == "sd-vae-ft-ema/" and "SaveImage" in nodes
    if name == "pixart_text_to_image":
        assert nodes["OpenSoraT5Loader"]["max_length"] == 120  # PixArt-α's T5 length
        text = nodes["OpenSoraTextEncode"]
        assert (text["aesthetic_score"], text["motion_score"], text["camera_motion"]) == (
            -1.0,
            -1.0,
            "none",
        )
    else:
        assert "OpenSoraT5Loader" not in nodes and "OpenSoraTextEncode" not in nodes
        assert 0 <= nodes["OpenSoraClassLabel"]["class_label"] < 1000  # an ImageNet class


# --- the API twin -------------------------------------------------------------------------
@pytest.mark.parametrize("name", WORKFLOWS)
def test_api_twin_is_the_same_graph(name):
    twin = read_api_twin(name)
    for node in twin.values():  # values of frontend-only widgets, which the server ignores
        for key in FRONTEND_ONLY.get(node["class_type"], ()):
            node["inputs"].pop(key)
    assert ui_to_api(read_workflow(name), DEFINITIONS) == twin


def test_conversion_follows_widget_order_and_links():
    workflow = read_workflow("image_to_video")
    sampler = next(node for node in workflow["nodes"] if node["type"] == "OpenSoraSampler")
    sampler["widgets_values"][3] = 7  # seed; index 4 is its control_after_generate value
    prompt = ui_to_api(workflow, DEFINITIONS)
    inputs = prompt[str(sampler["id"])]["inputs"]
    assert inputs["seed"] == 7 and inputs["resolution"] == "360p"
    assert inputs["mask_strategy"][1] == 0 and "control_after_generate" not in inputs
    assert not any(entry["class_type"] in NOTE_TYPES for entry in prompt.values())


# --- the API twins run on tiny models -----------------------------------------------------
def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(pixels)).float() / 255


def _load_video(path) -> "values.VideoFrames":
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        fps = float(container.streams.video[0].average_rate)
    return values.VideoFrames(_to_tensor(frames), fps)


def _resize(images: torch.Tensor, size: "tuple[int, int]") -> torch.Tensor:
    if tuple(images.shape[1:3]) == size:
        return images
    moved = torch.nn.functional.interpolate(images.movedim(-1, 1), size=size, mode="bilinear")
    return moved.movedim(1, -1)


def _uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


class CoreNodes:
    """ComfyUI 0.3.64's core nodes as the workflows use them, reading `inputs`, writing `outputs`."""

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs, self.saved = inputs, outputs, []

    def LoadImage(self, image):
        pixels = np.asarray(Image.open(self.inputs / image).convert("RGB"))
        return _to_tensor(pixels)[None], torch.zeros(1, *pixels.shape[:2])

    def LoadVideo(self, file):
        return (_load_video(self.inputs / file),)

    def ImageBatch(self, image1, image2):
        return (torch.cat([image1, _resize(image2, tuple(image1.shape[1:3]))]),)

    def GetVideoComponents(self, video):
        return video.frames, None, video.fps

    def ImageFromBatch(self, image, batch_index, length):
        start = min(image.shape[0] - 1, batch_index)
        return (image[start : start + min(image.shape[0] - start, length)],)

    def CreateVideo(self, images, fps, audio=None):
        return (values.VideoFrames(images, fps),)

    def SaveVideo(self, video, filename_prefix, format, codec):
        from sora_core.video_io import write_mp4

        path = self.outputs / f"{filename_prefix}_00001_.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.saved.append(write_mp4(_uint8(video.frames), path, video.fps))
        return ()

    def SaveImage(self, images, filename_prefix):
        for index, image in enumerate(_uint8(images)):
            path = self.outputs / f"{filename_prefix}_{index + 1:05d}_.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
            self.saved.append(path)
        return ()

    def PreviewAny(self, source, preview=""):
        self.previewed = source
        return ()


def _execution_order(prompt: dict) -> "list[str]":
    done: list[str] = []

    def visit(node_id):
        if node_id in done:
            return
        for value in prompt[node_id]["inputs"].values():
            if isinstance(value, list):
                visit(value[0])
        done.append(node_id)

    for node_id in prompt:
        visit(node_id)
    return done


def run_prompt(prompt: dict, core: CoreNodes, loaded: dict) -> None:
    """Execute an API prompt as ComfyUI does: validate widgets, run nodes in link order."""
    results: dict[str, tuple] = {}
    for node_id in _execution_order(prompt):
        node = prompt[node_id]
        inputs = {
            key: results[value[0]][value[1]] if isinstance(value, list) else value
            for key, value in node["inputs"].items()
        }
        spec = PACK_NODES.get(node["class_type"])
        if spec is None:
            results[node_id] = getattr(core, node["class_type"])(**inputs)
            continue
        # ComfyUI passes a node only the inputs it declares (an older prompt's extra is dropped).
        declared = {item.name for item in spec.inputs}
        inputs = {key: value for key, value in inputs.items() if key in declared}
        widgets = {k: v for k, v in inputs.items() if not isinstance(node["inputs"][k], list)}
        assert spec_module.validate_values(spec, widgets) is True
        for item in spec.inputs:  # the V3 adapter hands frames, not VIDEO objects, to nodes
            if item.type == spec_module.VIDEO and inputs.get(item.name) is not None:
                inputs[item.name] = inputs[item.name].frames
        if spec.node_id.endswith("Loader"):  # ComfyUI's cache: one load per file and options
            key = json.dumps([spec.node_id, widgets], sort_keys=True)
            results[node_id] = loaded.setdefault(key, spec.execute(**inputs))
        else:
            results[node_id] = spec.execute(**inputs)


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory, tiny_models_dir):
    input_dir = tmp_path_factory.mktemp("input")
    paths.use_io_dirs(input_dir, tmp_path_factory.mktemp("output"))
    yield input_dir, {}
    paths.use_io_dirs(None, None)


# Frames in the saved result with 51-frame clips: the extension appends 51 - 17, and each
# later loop of the long video adds 51 - 17.
SAVED_FRAMES = {"extend_video": 51 + 34, "long_video": 51 + 2 * 34, "text_to_image": 1}


@pytest.mark.parametrize("name", sorted(DEMO))
def test_demo_api_twin_runs_as_shipped_with_the_embedded_model(name, tiny_setup, tmp_path):
    input_dir, loaded = tiny_setup
    prompt = read_api_twin(name)  # no model swapped in, no size shrunk: as a user runs it
    core = CoreNodes(input_dir, tmp_path)
    run_prompt(prompt, core, loaded)
    (path,) = core.saved
    video = _load_video(path)
    assert tuple(video.frames.shape[:3]) == (8, 64, 64) and video.fps == 8
    scene = parse_caption(prompt["4"]["inputs"]["prompt"])
    frames = (video.frames.numpy() * 255).round().astype(np.uint8)
    assert read_clip(frames).colour == scene.colour


@pytest.mark.parametrize("name", sorted(set(WORKFLOWS) - DEMO))
def test_api_twin_runs_on_tiny_models(name, tiny_setup, tmp_path):
    input_dir, loaded = tiny_setup
    prompt = with_tiny_models(read_api_twin(name), ci_sizes=True)
    named = {
        k: v for node in prompt.values() for k, v in node["inputs"].items() if k in TINY_MODELS
    }
    assert {"model_name", "vae_name"} <= set(named)
    assert all(value in TINY_MODELS[key].values() for key, value in named.items())
    for file, kind in input_files(prompt).items():
        if not (input_dir / file).exists():
            write_input_file(input_dir / file, kind)
    core = CoreNodes(input_dir, tmp_path)
    run_prompt(prompt, core, loaded)
    if name in IMAGES:
        (path,) = core.saved
        assert Image.open(path).size == (32, 32)
        return
    (path,) = core.saved
    if name == "train_lora":  # trained, published, then generated with
        assert "finished after 2 step(s)" in core.previewed
        assert (paths.role_roots("lora")[0] / "opensora_lora.safetensors").is_file()
    video = _load_video(path)
    assert video.frames.shape[0] == SAVED_FRAMES.get(name, 51) and video.fps == 24
    size = (144, 256) if name == "extend_video" else (32, 32)  # extension: the original's size
    assert tuple(video.frames.shape[1:3]) == size


def test_workflows_saved_with_the_removed_tile_overlap_widget_load_and_run(tiny_setup, tmp_path):
    # tile_overlap was the VAE loader's last widget: an older UI file has one trailing value
    # (unused, as the frontend leaves it), an older API prompt one input ComfyUI drops.
    old = read_workflow("text_to_image")
    (loader,) = [node for node in old["nodes"] if node["type"] == "OpenSoraVAELoader"]
    loader["widgets_values"].append(8)
    assert ui_to_api(old, DEFINITIONS) == ui_to_api(read_workflow("text_to_image"), DEFINITIONS)
    prompt = with_tiny_models(read_api_twin("text_to_image"), ci_sizes=True)
    (vae_node,) = [node for node in prompt.values() if node["class_type"] == "OpenSoraVAELoader"]
    vae_node["inputs"]["tile_overlap"] = 8
    core = CoreNodes(tiny_setup[0], tmp_path)
    run_prompt(prompt, core, tiny_setup[1])
    (path,) = core.saved
    assert Image.open(path).size == (32, 32)
