"""The bundled workflows as API-format graphs plus the note shown on their canvas.

These are the inputs of `tools/export_workflows.mjs`, which loads each graph into the real
ComfyUI frontend, adds the note, lays the nodes out and saves what the frontend saves
(`workflows/<name>.json`, UI format) and exports (`workflows/api/<name>.json`, "Export
(API)"). The shipped files are those exports, never this script's output, except that
`--layout` then places the saved nodes (`lay_out`: room for picture previews, the whole
graph in view when it opens).

    python tools/workflow_sources.py sources.json
    node tools/export_workflows.mjs --url http://127.0.0.1:8188 --sources sources.json \
        --out workflows --shots shots
    python tools/workflow_sources.py --layout workflows
    node tools/export_workflows.mjs --url http://127.0.0.1:8188 --sources sources.json \
        --out workflows --shots shots --saved
    python tools/workflow_sources.py --thumbnails shots workflows

The thumbnails are shot after the layout (`--saved` opens each saved file as a user does),
on a 1920x1080 page, with the release files present as names in the model folders (empty
files and folders with a `config.json` suffice) and ComfyUI's own `input/example.png`.
"""

import argparse
import json
from pathlib import Path

from sora_core.demo import embedded

# Released files as the loaders list them (Hugging Face folders end in "/").
TRANSFORMER = "OpenSora-STDiT-v3/"
VAE = "OpenSora-VAE-v1.2/"
TEXT_ENCODER = "t5xxl_fp16.safetensors"
PIXART = "PixArt-XL-2-512x512.pth"
DIT = "DiT-XL-2-256x256.pt"
SD_VAE = "sd-vae-ft-ema/"
PIXART_TOKENS = 120  # PixArt-α's T5 length
INPUT_IMAGE = "example.png"
INPUT_VIDEO = "opensora_input.mp4"
DATASET = "opensora_dataset"
SEED = 42
REFERENCE_RESOLUTION = "360p"
FPS = 24.0
FRAMES = 51
# Latent frames 5 of the 1.2 VAE = 1 + 4 * 4 video frames, the overlap of an extension.
EXTEND_LATENTS = 5
EXTEND_OVERLAP = 17

# The embedded demo model, as the loaders list it (shipped inside the pack).
DEMO_TRANSFORMER = Path(embedded.TRANSFORMER_FILE).name
DEMO_VAE = Path(embedded.VAE_DIR).name + "/"
DEMO_TEXT_ENCODER = Path(embedded.TEXT_ENCODER_DIR).name + "/"
DEMO_STEPS, DEMO_CFG = embedded.NUM_SAMPLING_STEPS, embedded.CFG_SCALE
DEMO_SIZE, DEMO_FRAMES, DEMO_FPS = 64, 8, 8.0  # as trained (configs/demo/train/demo.py)

MODELS_NOTE = """**Model files** (nothing is downloaded; press **R** after adding files):

- **Load Open-Sora Transformer**: the folder of
  [hpcai-tech/OpenSora-STDiT-v3](https://huggingface.co/hpcai-tech/OpenSora-STDiT-v3)
  (`config.json` + `model.safetensors`) in `models/opensora/` or
  `models/diffusion_models/`, listed as `OpenSora-STDiT-v3/`.
- **Load Open-Sora VAE**: the folder of
  [hpcai-tech/OpenSora-VAE-v1.2](https://huggingface.co/hpcai-tech/OpenSora-VAE-v1.2)
  in `models/vae/`, listed as `OpenSora-VAE-v1.2/`.
- **Load Open-Sora T5 Text Encoder**: ComfyUI's `t5xxl_fp16.safetensors` (or
  `t5xxl_fp8_e4m3fn.safetensors`) in `models/text_encoders/`, or the folder of
  [DeepFloyd/t5-v1_1-xxl](https://huggingface.co/DeepFloyd/t5-v1_1-xxl).

Open-Sora 1.2 defaults: rflow, 30 steps, cfg 7, aesthetic score 6.5, 24 fps.
Memory: bf16 transformer + VAE and fp16 T5 fit a 24 GB GPU at 240p; set the T5
loader's device to `cpu` to keep T5 off the GPU."""


DEMO_NOTE = """**Model files**: none to add. The demo model ships inside the pack (about
3 MB, trained by this pack's `opensora-train` on procedural clips of flat shapes). It knows
5 colours (red, green, blue, yellow, white), 3 shapes (circle, square, triangle), 4
directions (left, right, up, down) and 2 backgrounds (black, gray), always in the caption
form `a {colour} {shape} moving {direction} on a {background} background`, at 64x64, 8
frames. Anything else gives shapeless colour. For real videos use the other workflows
with Open-Sora's released weights."""

SD_VAE_NOTE = """- **Load Open-Sora VAE**: the folder of
  [stabilityai/sd-vae-ft-ema](https://huggingface.co/stabilityai/sd-vae-ft-ema)
  (`config.json` + `diffusion_pytorch_model.safetensors`) in `models/vae/`, listed as
  `sd-vae-ft-ema/`."""

PIXART_NOTE = f"""**Model files** (nothing is downloaded; press **R** after adding files):

- **Load Open-Sora Transformer**: `PixArt-XL-2-512x512.pth` from
  [PixArt-alpha/PixArt-alpha](https://huggingface.co/PixArt-alpha/PixArt-alpha) in
  `models/diffusion_models/` or `models/opensora/` (also `PixArt-XL-2-256x256.pth`, and
  `PixArt-XL-2-1024-MS.pth` with its size conditioning; set the sampler's size to match).
{SD_VAE_NOTE}
- **Load Open-Sora T5 Text Encoder**: ComfyUI's `t5xxl_fp16.safetensors` in
  `models/text_encoders/`, or the folder of
  [DeepFloyd/t5-v1_1-xxl](https://huggingface.co/DeepFloyd/t5-v1_1-xxl); `max_length`
  120 (PixArt-Σ: 300).

Text Encode's release stays 1.2 (the samplers of the tree PixArt comes from)."""

DIT_NOTE = f"""**Model files** (nothing is downloaded; press **R** after adding files):

- **Load Open-Sora Transformer**: Meta's `DiT-XL-2-256x256.pt`
  ([facebookresearch/DiT](https://github.com/facebookresearch/DiT)) in
  `models/opensora/` or `models/diffusion_models/`.
{SD_VAE_NOTE}

No text encoder: the class id is the condition; cfg uses the model's null class."""


def _loaders(
    transformer: str = TRANSFORMER,
    vae: str = VAE,
    text_encoder: str = TEXT_ENCODER,
    dtype: str = "bf16",
    max_length: int = 300,
) -> dict:
    return {
        "1": _node(
            "OpenSoraTransformerLoader",
            "Load Open-Sora Transformer",
            model_name=transformer,
            dtype=dtype,
            attention="auto",
        ),
        "2": _node(
            "OpenSoraVAELoader",
            "Load Open-Sora VAE",
            vae_name=vae,
            dtype=dtype,
            tile_size=0,
        ),
        "3": _node(
            "OpenSoraT5Loader",
            "Load Open-Sora T5 Text Encoder",
            t5_name=text_encoder,
            dtype="default",
            device="default",
            max_length=max_length,
        ),
    }


def _demo_loaders() -> dict:
    # fp32: the demo model is small and its CPU runs have no bf16 kernels to gain from
    return _loaders(DEMO_TRANSFORMER, DEMO_VAE, DEMO_TEXT_ENCODER, "fp32", max_length=16)


def _node(class_type: str, title: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


def _text(prompt: str, aesthetic_score: float = 6.5) -> dict:
    return _node(
        "OpenSoraTextEncode",
        "Open-Sora Text Encode",
        t5=["3", 0],
        prompt=prompt,
        release="1.2",
        aesthetic_score=aesthetic_score,
        motion_score=-1.0,
        camera_motion="none",
    )


def _clip_widgets(resolution: str = "240p", num_frames: int = FRAMES) -> dict:
    return {
        "sampler_name": "rflow",
        "steps": 30,
        "cfg": 7.0,
        "seed": SEED,
        "resolution": resolution,
        "aspect_ratio": "16:9 landscape (H:W 9:16)",
        "width": 0,
        "height": 0,
        "num_frames": num_frames,
        "duration": 0.0,
        "fps": FPS,
    }


def _sampler(strategy: "str | None" = None, **widgets) -> dict:
    links = {"model": ["1", 0], "vae": ["2", 0], "conditioning": ["4", 0]}
    if strategy is not None:
        # More detail from the references at 360p; 240p works too (a 426-wide clip decodes
        # to 424 and the references are encoded at that size).
        links["mask_strategy"] = [strategy, 0]
        widgets.setdefault("resolution", REFERENCE_RESOLUTION)
    return _node("OpenSoraSampler", "Open-Sora Sampler", **links, **_clip_widgets(**widgets))


def _decode(latent: str = "5") -> dict:
    return _node(
        "OpenSoraVAEDecode",
        "Open-Sora VAE Decode",
        vae=["2", 0],
        latent=[latent, 0],
        fps=0.0,
        num_frames=0,
    )


def _save_video(video: list, prefix: str) -> dict:
    return _node(
        "SaveVideo", "Save Video", video=video, filename_prefix=prefix, format="auto", codec="auto"
    )


def _strategy(preset: str, title: str, **inputs) -> dict:
    # Widgets not given keep the node's defaults: the frontend fills them in on loading.
    return _node("OpenSoraMaskStrategy", title, preset=preset, **inputs)


def _load_image(title: str) -> dict:
    return _node("LoadImage", title, image=INPUT_IMAGE)


def _load_video() -> dict:
    return _node("LoadVideo", "Load Video", file=INPUT_VIDEO)


def text_to_video() -> dict:
    return {
        **_loaders(),
        "4": _text(
            "a paper boat drifts down a rainy street at night, neon reflections on the water"
        ),
        "5": _sampler(),
        "6": _decode(),
        "7": _save_video(["6", 1], "opensora/text_to_video"),
    }


def image_to_video() -> dict:
    return {
        **_loaders(),
        "4": _text("the scene comes to life, gentle camera movement"),
        "8": _load_image("First frame"),
        "9": _strategy("image-to-video", "Image opens the video", images=["8", 0]),
        "5": _sampler("9"),
        "6": _decode(),
        "7": _save_video(["6", 1], "opensora/image_to_video"),
    }


def connect() -> dict:
    return {
        **_loaders(),
        "4": _text("a smooth transition from the first picture to the second"),
        "8": _load_image("First frame"),
        "10": _load_image("Last frame"),
        "11": _node("ImageBatch", "First + last frame", image1=["8", 0], image2=["10", 0]),
        "9": _strategy("connect", "First opens, last closes", images=["11", 0]),
        "5": _sampler("9"),
        "6": _decode(),
        "7": _save_video(["6", 1], "opensora/connect"),
    }


def extend_video() -> dict:
    return {
        **_loaders(),
        "4": _text("the video continues, the camera keeps moving forward"),
        "12": _load_video(),
        "9": _strategy(
            "extend",
            "Continue from the tail",
            length=EXTEND_LATENTS,
            extend_side="tail at start",
            video=["12", 0],
        ),
        "5": _sampler("9"),
        "6": _decode(),
        "13": _node("GetVideoComponents", "Original frames", video=["12", 0]),
        "14": _node(
            "ImageFromBatch",
            f"Drop {EXTEND_OVERLAP} repeated frames",
            image=["6", 0],
            batch_index=EXTEND_OVERLAP,
            length=4096,
        ),
        "15": _node("ImageBatch", "Original + new frames", image1=["13", 0], image2=["14", 0]),
        "16": _node("CreateVideo", "Create Video", images=["15", 0], fps=FPS),
        "7": _save_video(["16", 0], "opensora/extend_video"),
    }


def edit_video() -> dict:
    return {
        **_loaders(),
        "4": _text("the same scene in winter, covered in snow"),
        "12": _load_video(),
        "9": _strategy(
            "edit",
            "Re-generate (edit ratio)",
            length=15,
            edit_ratio=0.5,
            video=["12", 0],
        ),
        "5": _sampler("9"),
        "6": _decode(),
        "7": _save_video(["6", 1], "opensora/edit_video"),
    }


def long_video() -> dict:
    prompts = "\n".join(
        (
            "a hot air balloon rises over a green valley at sunrise",
            "the balloon drifts above a winding river",
            "the balloon floats towards snowy mountains",
        )
    )
    long = _node(
        "OpenSoraLongVideo",
        "Open-Sora Long Video",
        model=["1", 0],
        vae=["2", 0],
        conditioning=["4", 0],
        **_clip_widgets(),
        loops=3,
        condition_frame_length=EXTEND_LATENTS,
        condition_frame_edit=0.0,
    )
    return {
        **_loaders(),
        "4": _text(prompts),
        "5": long,
        "7": _save_video(["5", 1], "opensora/long_video"),
    }


def _demo_sampler(strategy: "str | None" = None) -> dict:
    widgets = {
        **_clip_widgets(num_frames=DEMO_FRAMES),
        "steps": DEMO_STEPS,
        "cfg": DEMO_CFG,
        "width": DEMO_SIZE,
        "height": DEMO_SIZE,
        "fps": DEMO_FPS,
    }
    links = {"model": ["1", 0], "vae": ["2", 0], "conditioning": ["4", 0]}
    if strategy is not None:
        links["mask_strategy"] = [strategy, 0]
    return _node("OpenSoraSampler", "Open-Sora Sampler", **links, **widgets)


def demo_text_to_video() -> dict:
    # captions were never scored in training: no aesthetic score
    return {
        **_demo_loaders(),
        "4": _text("a red circle moving right on a black background", aesthetic_score=-1.0),
        "5": _demo_sampler(),
        "6": _decode(),
        "7": _save_video(["6", 1], "opensora/demo_text_to_video"),
    }


def demo_image_to_video() -> dict:
    return {
        **_demo_loaders(),
        "4": _text("a yellow square moving up on a gray background", aesthetic_score=-1.0),
        "8": _node(
            "OpenSoraDemoFrame",
            "First frame",
            colour="yellow",
            shape="square",
            background="gray",
            x=0.5,
            y=0.7,
            width=DEMO_SIZE,
            height=DEMO_SIZE,
        ),
        "9": _strategy("image-to-video", "Image opens the video", images=["8", 0]),
        "5": _demo_sampler("9"),
        "6": _decode(),
        "7": _save_video(["6", 1], "opensora/demo_image_to_video"),
    }


def text_to_image() -> dict:
    return {
        **_loaders(),
        "4": _text("a lighthouse on a cliff at golden hour, dramatic clouds, photograph"),
        "5": _sampler(resolution="360p", num_frames=1),
        "6": _decode(),
        "7": _node("SaveImage", "Save Image", images=["6", 0], filename_prefix="opensora/image"),
    }


def train_lora() -> dict:
    train = _node(
        "OpenSoraTrain",
        "Open-Sora Train (LoRA)",
        model=["1", 0],
        vae=["2", 0],
        t5=["3", 0],
        dataset=DATASET,
        mode="lora",
        rank=16,
        alpha=16.0,
        steps=500,
        learning_rate=1e-4,
        batch_size=1,
        resolution="240p",
        num_frames=FRAMES,
        seed=SEED,
        checkpoint_every=100,
        base_dtype="bf16",
        output_name="opensora_lora",
    )
    sampler = _sampler()
    sampler["inputs"]["model"] = ["17", 0]
    return {
        **_loaders(),
        "17": train,
        "18": _node("PreviewAny", "Training log", source=["17", 2]),
        "4": _text("a paper boat drifts down a rainy street at night, in the dataset's style"),
        "5": sampler,
        "6": _decode(),
        "7": _save_video(["6", 1], "opensora/train_lora"),
    }


def _image_sampler(scheduler: dict, size: int) -> dict:
    """The sampler as Open-Sora's DiT / PixArt image configs set it: one frame at `size`."""
    widgets = {**_clip_widgets(num_frames=1), **scheduler, "width": size, "height": size}
    links = {"model": ["1", 0], "vae": ["2", 0], "conditioning": ["4", 0]}
    return _node("OpenSoraSampler", "Open-Sora Sampler", **links, **widgets)


def _save_image(prefix: str) -> dict:
    return _node("SaveImage", "Save Image", images=["6", 0], filename_prefix=prefix)


def pixart_text_to_image() -> dict:
    # configs/pixart/inference/1x512x512.py: dpm-solver, 20 steps, cfg 7, 120 T5 tokens.
    return {
        **_loaders(PIXART, SD_VAE, max_length=PIXART_TOKENS),
        "4": _text("Pirate ship trapped in a cosmic maelstrom nebula.", aesthetic_score=-1.0),
        "5": _image_sampler({"sampler_name": "dpm-solver", "steps": 20, "cfg": 7.0}, 512),
        "6": _decode(),
        "7": _save_image("opensora/pixart"),
    }


def dit_class_to_image() -> dict:
    # configs/dit/inference/1x256x256-class.py: dpm-solver, 20 steps, cfg 4, ImageNet labels.
    loaders = _loaders(DIT, SD_VAE)
    del loaders["3"]  # class labels need no text encoder
    return {
        **loaders,
        "4": _node("OpenSoraClassLabel", "Open-Sora Class Label", model=["1", 0], class_label=388),
        "5": _image_sampler({"sampler_name": "dpm-solver", "steps": 20, "cfg": 4.0}, 256),
        "6": _decode(),
        "7": _save_image("opensora/dit"),
    }


LOADERS, SAMPLE, SAVE = ["1", "2", "3"], ["4", "5"], ["6", "7"]
# Node ids per column, top to bottom, for the canvas layout.
COLUMNS = {
    "text_to_video": [LOADERS, SAMPLE, SAVE],
    "image_to_video": [[*LOADERS, "8"], ["4", "9"], ["5"], SAVE],
    "connect": [LOADERS, ["8", "10"], ["4", "11", "9"], ["5"], SAVE],
    "extend_video": [[*LOADERS, "12"], ["4", "9", "13"], ["5"], ["6", "14", "15"], ["16", "7"]],
    "edit_video": [[*LOADERS, "12"], ["4", "9"], ["5"], SAVE],
    "long_video": [LOADERS, SAMPLE, ["7"]],
    "text_to_image": [LOADERS, SAMPLE, SAVE],
    "train_lora": [LOADERS, ["17", "18"], SAMPLE, SAVE],
    "pixart_text_to_image": [LOADERS, SAMPLE, SAVE],
    "dit_class_to_image": [["1", "2"], SAMPLE, SAVE],
    "demo_text_to_video": [LOADERS, SAMPLE, SAVE],
    "demo_image_to_video": [[*LOADERS, "8"], ["4", "9"], ["5"], SAVE],
}

WORKFLOWS = {
    "text_to_video": (
        text_to_video,
        "Text to video",
        "Type the prompt in **Open-Sora Text Encode** and press Run. 240p, 16:9 landscape (426x240), 51 frames "
        "= 2 s at 24 fps; 360p and 480p work too (slower). A `duration` > 0 overrides "
        "`num_frames`.",
    ),
    "image_to_video": (
        image_to_video,
        "Image to video",
        "Upload the first frame in **First frame**. The mask strategy keeps it as the "
        "first latent frame; `edit_ratio` > 0 lets the model change it. Any size works: "
        "it is resized and cropped to the sampler's size (360p 16:9 = 640x360 here, for more "
        "detail from the picture; 240p works too).",
    ),
    "connect": (
        connect,
        "Connect two images (first + last frame)",
        "Upload the opening picture in **First frame** and the closing one in **Last "
        "frame**; the video is generated between them, at 360p 16:9 for more detail from the "
        "pictures (240p works too).",
    ),
    "extend_video": (
        extend_video,
        "Extend a video",
        f"Upload a video in **Load Video**. Its last {EXTEND_LATENTS} latent frames "
        f"({EXTEND_OVERLAP} video frames) open the new clip; the new frames after them are "
        "appended to the original, saved as one video (the new frames scaled to its size). "
        "Generated at 360p 16:9 (240p works too). Run again on the result to extend "
        "further, or use the long-video workflow.",
    ),
    "edit_video": (
        edit_video,
        "Edit a video (edit ratio)",
        "Upload a video of at least 51 frames in **Load Video** and describe the result. "
        "`edit_ratio` is the SDEdit strength: 0 keeps the video, 1 ignores it; 0.3-0.6 "
        "keeps the motion and layout. `length` 15 latent frames = all 51 frames. 360p 16:9 "
        "(240p works too).",
    ),
    "long_video": (
        long_video,
        "Long video with per-loop prompts",
        "One prompt line per loop (the last line carries on). Each loop generates 51 "
        "frames, starting from the last 5 latent frames of the loop before: 3 loops = "
        "51 + 2 x 34 = 119 frames. `condition_frame_edit` > 0 lets the joins change.",
    ),
    "text_to_image": (
        text_to_image,
        "Text to image",
        "`num_frames` = 1 makes Open-Sora 1.2 generate a still image (360p 16:9 here); "
        "saved as PNG.",
    ),
    "train_lora": (
        train_lora,
        "Train a LoRA, then generate with it",
        f"**Dataset**: a folder in ComfyUI's `input/` named in `dataset` (here "
        f"`input/{DATASET}/`): clips and images, each with a same-named caption file "
        "(`fox.mp4` + `fox.txt`, `cat.png` + `cat.txt`); or a CSV there in Open-Sora's "
        "columns (`path, text, num_frames, height, width, fps`). Clips shorter than "
        "`num_frames` are skipped; images train as single frames.\n\n"
        "**Open-Sora Train** fine-tunes a rank-16 LoRA for 500 steps (the frozen model "
        "kept in bf16) and writes `models/loras/opensora_lora.safetensors`, which the "
        "**Open-Sora LoRA** node lists from then on; its `model` output is the "
        "transformer with the new adapter, so the sampler after it generates with it. "
        "Cancel stops between steps and keeps what was trained; checkpoints to resume "
        "from go to `output/opensora-train/opensora_lora/`. `mode` = full fine-tunes "
        "every weight into `models/opensora/<name>/` (needs far more memory).",
    ),
    "pixart_text_to_image": (
        pixart_text_to_image,
        "Text to image",
        "PixArt-α as Open-Sora's `configs/pixart/inference/1x512x512.py` runs it: a 512x512 "
        "image (`num_frames` = 1), dpm-solver, 20 steps, cfg 7, T5 `max_length` 120. The "
        "1.2 score and camera captions stay off (PixArt was not trained with them).",
    ),
    "dit_class_to_image": (
        dit_class_to_image,
        "Class label to image",
        "DiT as Open-Sora's `configs/dit/inference/1x256x256-class.py` runs it: the prompt "
        "is an ImageNet class id in **Open-Sora Class Label** (0-999; 388 = giant panda, "
        "279 = arctic fox, 207 = golden retriever), a 256x256 image, dpm-solver, 20 "
        "steps, cfg 4.",
    ),
    "demo_text_to_video": (
        demo_text_to_video,
        "Demo model: text to video",
        "Press Run: the embedded demo model makes a 64x64, 8-frame clip of the prompt in a "
        "few seconds on a CPU. Change the colour, shape, direction or background words.",
    ),
    "demo_image_to_video": (
        demo_image_to_video,
        "Demo model: image to video",
        "Press Run: **First frame** draws a shape (or connect any 64x64 IMAGE) and the demo "
        "model moves it as the prompt says. Keep the prompt's colour and shape those of the "
        "frame.",
    ),
}
# The model family each workflow runs, and the note on its model files (default: 1.2).
FAMILIES = {
    "pixart_text_to_image": ("PixArt-α", PIXART_NOTE),
    "dit_class_to_image": ("DiT", DIT_NOTE),
    "demo_text_to_video": ("Open-Sora 1.2", DEMO_NOTE),
    "demo_image_to_video": ("Open-Sora 1.2", DEMO_NOTE),
}


def sources() -> dict:
    """Every workflow: {name: {"title", "prompt" (API format), "note" (markdown), "columns"}}."""
    sources = {}
    for name, (build, title, how) in WORKFLOWS.items():
        family, models = FAMILIES.get(name, ("Open-Sora 1.2", MODELS_NOTE))
        sources[name] = {
            "title": title,
            "prompt": build(),
            "note": f"## {family}: {title[0].lower()}{title[1:]}\n\n{how}\n\n{models}",
            "columns": COLUMNS[name],
        }
    return sources


# The frontend's tab bar, menu bar and left side bar in a 1920x1080 screenshot.
CHROME = (64, 80)
# The canvas a workflow must fit when it opens: a 1680x1050 screen's browser window less
# the frontend's bars; wider screens show it at the same zoom, with room to spare.
VIEW = (1600, 860)
# Heights nodes grow to once a picture or video is loaded or saved (the saved size is the
# empty node's): room is kept so that nothing overlaps after the first run.
PREVIEW_HEIGHT = {"LoadImage": 320, "LoadVideo": 320, "SaveImage": 320, "SaveVideo": 320}
TITLE_HEIGHT, GAP, NOTE_WIDTH, MARGIN = 30, 30, 400, 30


def _box(node: dict) -> "tuple[float, float]":
    width, height = node["size"]
    return width, max(height, PREVIEW_HEIGHT.get(node["type"], 0))


def lay_out(workflow: dict, columns: "list[list[str]]") -> None:
    """Place a saved workflow's nodes in `columns`, the note on their left, and set the view
    so that the whole graph, output nodes included, shows in a VIEW-sized canvas."""
    nodes = {str(node["id"]): node for node in workflow["nodes"]}
    note = next(node for node in workflow["nodes"] if node["type"] == "MarkdownNote")
    x = NOTE_WIDTH + 2 * GAP
    bottom = 0.0
    for column in columns:
        y = 0.0
        for node_id in column:
            y += TITLE_HEIGHT
            nodes[node_id]["pos"] = [x, y]
            y += _box(nodes[node_id])[1] + GAP
        bottom = max(bottom, y - GAP)
        x += max(_box(nodes[node_id])[0] for node_id in column) + GAP
    width = x - GAP
    note["pos"], note["size"] = [0, TITLE_HEIGHT], [NOTE_WIDTH, max(500, bottom - TITLE_HEIGHT)]
    scale = min(1.0, (VIEW[0] - 2 * MARGIN) / width, (VIEW[1] - 2 * MARGIN) / bottom)
    workflow["extra"]["ds"] = {"scale": scale, "offset": [MARGIN / scale, MARGIN / scale]}


def lay_out_saved(workflows: Path) -> None:
    """Apply `lay_out` to every saved workflow in `workflows`, keeping the file's format."""
    for path in sorted(workflows.glob("*.json")):
        workflow = json.loads(path.read_text())
        lay_out(workflow, COLUMNS[path.stem])
        path.write_text(json.dumps(workflow, indent=2, ensure_ascii=False) + "\n")


def write_thumbnails(shots: Path, workflows: Path, width: int = 720) -> None:
    """Screenshots (PNG) -> `<workflow>.jpg` beside each workflow: canvas only, `width` px wide."""
    from PIL import Image

    for shot in sorted(shots.glob("*.png")):
        image = Image.open(shot).convert("RGB")
        image = image.crop((*CHROME, image.width, image.height))
        height = round(image.height * width / image.width)
        image = image.resize((width, height), Image.LANCZOS)
        image.save(workflows / f"{shot.stem}.jpg", quality=82, optimize=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="sources JSON to write")
    parser.add_argument("--thumbnails", nargs=2, metavar=("SHOTS", "WORKFLOWS"))
    parser.add_argument("--layout", metavar="WORKFLOWS", help="lay out the saved workflows")
    args = parser.parse_args()
    if args.layout:
        lay_out_saved(Path(args.layout))
    if args.thumbnails:
        write_thumbnails(Path(args.thumbnails[0]), Path(args.thumbnails[1]))
    if args.target:
        Path(args.target).write_text(json.dumps(sources(), indent=1))
