"""The bundled workflows as the frontend reads them, without ComfyUI.

`widget_slots` and `ui_to_api` follow the frontend's rules (ComfyUI_frontend 1.27,
`graphToPrompt`): one widget per widget-typed input in input order, plus the frontend-only
value after a `control_after_generate` INT and after an upload combo; notes are not sent.
Node definitions come from a saved subset of ComfyUI 0.3.64's /object_info
(`comfy_graphs/object_info_0.3.64.json`: the core nodes the workflows use and the pack's
own, saved with `comfy_e2e.py --save-object-info`, tooltips dropped). `with_tiny_models` switches the loaders to the
tiny test models. Run as a script, it writes those copies and their input files for a
real-ComfyUI run:

    python tests/workflow_graphs.py /tmp/wf   # then comfy_e2e.py --input-dir /tmp/wf/input ...
"""

import argparse
import copy
import json
from pathlib import Path

import numpy as np
from PIL import Image
from tiny_models import DIT, PIXART, SD_VAE, TEXT_ENCODER, TRANSFORMER, VAE

from golden import PROJECT_ROOT

WORKFLOWS_DIR = PROJECT_ROOT / "workflows"
OBJECT_INFO = Path(__file__).parent / "comfy_graphs" / "object_info_0.3.64.json"
NOTE_TYPES = ("Note", "MarkdownNote")
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload")
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
# Loader widget -> {released file the workflows name: its tiny stand-in of `tiny_models.py`}.
TINY_MODELS = {
    "model_name": {
        "OpenSora-STDiT-v3/": TRANSFORMER,
        "PixArt-XL-2-512x512.pth": PIXART,
        "DiT-XL-2-256x256.pt": DIT,
    },
    "vae_name": {"OpenSora-VAE-v1.2/": VAE, "sd-vae-ft-ema/": SD_VAE},
    "t5_name": {"t5xxl_fp16.safetensors": TEXT_ENCODER},
}
# What the CI run shrinks so that seven workflows take seconds on a CPU (frame counts,
# loops, strategies and every other widget stay as shipped).
CI_OVERRIDES = {"width": 32, "height": 32, "steps": 2}
SAMPLING_NODES = ("OpenSoraSampler", "OpenSoraLongVideo")
# The tiny models train a few small steps (CI and the real-ComfyUI copies alike).
TINY_TRAINING = {"steps": 2, "resolution": "144p", "num_frames": 8, "rank": 4, "alpha": 4.0}


def workflow_names() -> "list[str]":
    """Every bundled UI workflow, by file stem."""
    return sorted(path.stem for path in WORKFLOWS_DIR.glob("*.json"))


def read_workflow(name: str) -> dict:
    """The UI-format workflow `workflows/<name>.json`."""
    return json.loads((WORKFLOWS_DIR / f"{name}.json").read_text())


def read_api_twin(name: str) -> dict:
    """The API-format twin `workflows/api/<name>.json`."""
    return json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text())


def core_definitions() -> dict:
    """Saved /object_info entries: the core nodes the workflows use and the pack's nodes."""
    return json.loads(OBJECT_INFO.read_text())


def input_spec(definition: dict, name: str) -> "tuple[str | list, dict]":
    """(type, options) of input `name` of a node definition."""
    for category in ("required", "optional"):
        spec = (definition["input"].get(category) or {}).get(name)
        if spec is not None:
            return spec[0], spec[1] if len(spec) > 1 else {}
    raise KeyError(name)


def widget_slots(definition: dict) -> "list[str | None]":
    """Input names in `widgets_values` order; None marks a frontend-only value."""
    slots: list[str | None] = []
    for category in ("required", "optional"):
        for name in definition["input_order"].get(category, []):
            kind, options = input_spec(definition, name)
            if options.get("forceInput") or not (isinstance(kind, list) or kind in WIDGET_TYPES):
                continue
            slots.append(name)
            if options.get("control_after_generate"):
                slots.append(None)
            if any(options.get(flag) for flag in UPLOAD_FLAGS):
                slots.append(None)
    return slots


def ui_to_api(workflow: dict, definitions: dict) -> dict:
    """The prompt the frontend sends for `workflow` (plain graphs: no reroutes, primitives,
    muted or bypassed nodes, subgraphs; the bundled workflows have none)."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in NOTE_TYPES:
            continue
        if node.get("mode", 0) != 0:
            raise ValueError(f"node {node['id']} is muted or bypassed")
        definition = definitions[node["type"]]
        slots = widget_slots(definition)
        # Values past the last widget (one removed since the file was saved, such as the VAE
        # loader's tile_overlap) are left unused, as the frontend leaves them.
        stored = (node.get("widgets_values") or [])[: len(slots)]
        inputs = {name: value for name, value in zip(slots, stored, strict=True) if name}
        for socket in node.get("inputs", []):
            if socket.get("link") is not None:
                _, origin, slot, *_ = links[socket["link"]]
                inputs[socket["name"]] = [str(origin), slot]
        title = node.get("title") or definition.get("display_name") or node["type"]
        prompt[str(node["id"])] = {
            "inputs": inputs,
            "class_type": node["type"],
            "_meta": {"title": title},
        }
    return prompt


def with_tiny_models(prompt: dict, ci_sizes: bool = False) -> dict:
    """A copy of an API prompt whose loaders name the tiny models (and, for CI, small sizes)."""
    prompt = copy.deepcopy(prompt)
    for node in prompt.values():
        inputs = node["inputs"]
        for key in TINY_MODELS.keys() & inputs.keys():  # the demo model's files stay
            inputs[key] = TINY_MODELS[key].get(inputs[key], inputs[key])
        if node["class_type"] == "OpenSoraTrain":
            inputs.update(TINY_TRAINING)
        if ci_sizes and node["class_type"] in SAMPLING_NODES:
            inputs.update(CI_OVERRIDES)
    return prompt


def ui_with_tiny_models(workflow: dict, definitions: dict) -> dict:
    """A copy of a UI workflow whose loaders name the tiny models (the user's only change)."""
    workflow = copy.deepcopy(workflow)
    for node in workflow["nodes"]:
        if node["type"] in NOTE_TYPES:
            continue
        slots = widget_slots(definitions[node["type"]])
        for key, stand_ins in TINY_MODELS.items():
            if key in slots:
                values = node["widgets_values"]
                index = slots.index(key)
                values[index] = stand_ins.get(values[index], values[index])
        if node["type"] == "OpenSoraTrain":
            for key, value in TINY_TRAINING.items():
                node["widgets_values"][slots.index(key)] = value
    return workflow


def input_files(prompt: dict) -> "dict[str, str]":
    """Files the workflow's LoadImage / LoadVideo nodes read from ComfyUI's input folder, and
    the dataset folders its Train nodes read."""
    names = {}
    for node in prompt.values():
        if node["class_type"] == "LoadImage":
            names[node["inputs"]["image"]] = "image"
        elif node["class_type"] == "LoadVideo":
            names[node["inputs"]["file"]] = "video"
        elif node["class_type"] == "OpenSoraTrain":
            names[node["inputs"]["dataset"]] = "dataset"
    return names


def write_input_file(path: Path, kind: str) -> None:
    """A small stand-in picture (96x128), 51-frame video (144x256, 24 fps), or dataset folder
    (that video and that picture, each with a same-named caption) at `path`."""
    from sora_core.video_io import write_mp4

    rows, columns = np.mgrid[0:144, 0:256]
    frames = np.stack(
        [
            np.stack(
                [(rows + 3 * t) % 256, (columns * 2 + 5 * t) % 256, (rows + columns) % 256], -1
            )
            for t in range(51)
        ]
    ).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "dataset":
        for name, (part, caption) in {
            "clip.mp4": ("video", "a moving pattern of stripes"),
            "still.png": ("image", "a still pattern of stripes"),
        }.items():
            write_input_file(path / name, part)
            (path / name).with_suffix(".txt").write_text(caption, encoding="utf-8")
    elif kind == "image":
        Image.fromarray(frames[0, :96, :128]).save(path)
    else:
        write_mp4(frames, path, 24.0)


def write_tiny_copies(target: Path) -> None:
    """`target/api/*.json`, `target/ui/*.json` on tiny models, and `target/input/` files."""
    definitions = core_definitions()
    for folder in ("api", "ui", "input"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    for name in workflow_names():
        prompt = with_tiny_models(read_api_twin(name))
        workflow = ui_with_tiny_models(read_workflow(name), definitions)
        (target / "api" / f"{name}.json").write_text(json.dumps(prompt, indent=1))
        (target / "ui" / f"{name}.json").write_text(json.dumps(workflow, indent=1))
        for file, kind in input_files(prompt).items():
            write_input_file(target / "input" / file, kind)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="folder for the tiny-model copies")
    write_tiny_copies(parser.parse_args().target)
