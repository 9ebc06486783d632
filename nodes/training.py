"""The Open-Sora Train node: fine-tunes the loaded transformer inside the queued prompt.

A thin wrapper over `sora_core.training.finetune`: ComfyUI's folders name the dataset
(`input/`) and where results go (`models/loras`, `models/opensora`, and the resumable
checkpoints under `output/opensora-train/<name>/`); each step moves the progress bar, and
Cancel stops the run between steps, publishes what it has, then interrupts the prompt.
"""

import re

from sora_core.aspect_tables import ASPECT_RATIOS
from sora_core.errors import ConfigError

from .loaders import load_transformer
from .lora import apply_lora
from .paths import io_dir, resolve_input, resolve_model, role_roots
from .runtime import StepProgress, cancel_between_steps_only, unload_for_training
from .sampling import RESOLUTIONS
from .spec import (
    COMBO,
    FLOAT,
    INT,
    MAX_SEED,
    MODEL,
    STRING,
    TEXT_ENCODER,
    VAE,
    Input,
    NodeSpec,
    Output,
)
from .vae_nodes import place_vae

MODES = ("lora", "full")
BASE_DTYPES = ("fp32", "bf16", "fp8")
EXPERIMENTS = "opensora-train"
OUTPUT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
LOG_LINES = 50  # steps shown in the text output (the log.jsonl has them all)


def check_output_name(output_name: "str | None" = None, **_) -> "bool | str":
    """A plain file stem: the adapter becomes models/loras/<output_name>.safetensors."""
    if output_name is None or OUTPUT_NAME.match(output_name):
        return True
    return (
        f"output_name: {output_name!r}; use letters, digits, '_', '-' and '.' (no folders), "
        "starting with a letter or digit"
    )


def _request(model, dataset, mode, rank, alpha, steps, learning_rate, batch_size, **widgets):
    from sora_core.training.finetune import FinetuneRequest

    check = check_output_name(widgets["output_name"])
    if check is not True:
        raise ConfigError(check)
    module = model.model
    base_dtype = widgets["base_dtype"]
    return FinetuneRequest(
        transformer=resolve_model("transformer", model.name),
        transformer_config=dict(module.config),
        release=model.release,
        model_type=type(module).__name__,
        dataset=resolve_input(dataset, "dataset"),
        experiment_root=io_dir("output") / EXPERIMENTS / widgets["output_name"],
        name=widgets["output_name"],
        lora={"rank": rank, "alpha": alpha} if mode == "lora" else None,
        steps=steps,
        lr=learning_rate,
        batch_size=batch_size,
        seed=widgets["seed"],
        resolution=widgets["resolution"],
        num_frames=widgets["num_frames"],
        ckpt_every=widgets["checkpoint_every"],
        base_dtype=None if base_dtype == "fp32" or mode == "full" else base_dtype,
        device=str(model.managed.load_device),
    )


def _log(losses: list, stopped: bool, published: str) -> str:
    lines = [
        f"step {index}: loss {'skipped' if loss is None else f'{loss:.5f}'}"
        for index, loss in enumerate(losses, start=1)
    ][-LOG_LINES:]
    ending = "stopped by Cancel" if stopped else "finished"
    return "\n".join([*lines, f"{ending} after {len(losses)} step(s); wrote {published}"])


def train(model, vae, t5, dataset: str, mode: str, **widgets) -> tuple:
    """Train, publish the adapter (or full weights) and return the adapted transformer."""
    from sora_core.training.finetune import finetune, publish
    from sora_core.training.trainer import TrainingHooks

    request = _request(model, dataset, mode, **widgets)
    progress = StepProgress(request.steps)
    hooks = TrainingHooks(on_step=progress.step, should_stop=progress.should_stop)
    unload_for_training()
    # The VAE encodes a batch of clips of the bucket's frames at its largest frame size.
    height, width = max(ASPECT_RATIOS[request.resolution][1].values(), key=lambda hw: hw[0] * hw[1])
    place_vae(vae, request.batch_size, request.num_frames, height, width, t5.managed)
    with cancel_between_steps_only():
        result = finetune(request, vae.vae, t5.encoder, hooks)
    role = "lora" if mode == "lora" else "transformer"
    path = publish(result, role_roots(role)[0], request.name)
    name = path.name if mode == "lora" else path.name + "/"
    progress.raise_if_cancelled()  # the work is saved; end the prompt as ComfyUI expects
    if mode == "lora":
        (trained,) = apply_lora(model, name, 1.0)
    else:
        (trained,) = load_transformer(name, "default", "auto")
    return trained, name, _log(result.losses, result.stopped, str(path))


TRAIN = NodeSpec(
    node_id="OpenSoraTrain",
    display_name="Open-Sora Train",
    category="Open-Sora/training",
    description="Fine-tunes the transformer on a dataset in ComfyUI's input folder, with the "
    "same trainer as opensora-train: a LoRA adapter (written to models/loras, listed by the "
    "Open-Sora LoRA node) or the whole model (written to models/opensora as a folder). "
    "Resumable checkpoints go to output/opensora-train/<output_name>/. Cancel stops between "
    "steps and keeps what was trained. Outputs the transformer with the result applied.",
    inputs=(
        Input(
            "model",
            MODEL,
            "The transformer to fine-tune (its file is reloaded in fp32 for training; "
            "adapters applied to this input are not part of the base).",
        ),
        Input("vae", VAE, "The VAE that encodes the clips (frozen)."),
        Input("t5", TEXT_ENCODER, "The T5 text encoder that encodes the captions (frozen)."),
        Input(
            "dataset",
            STRING,
            "Folder in ComfyUI's input folder holding clips/images with same-named .txt "
            "captions (fox.mp4 + fox.txt), or a CSV there in Open-Sora's columns "
            "(path, text, num_frames, height, width, fps).",
            default="opensora_dataset",
        ),
        Input(
            "mode",
            COMBO,
            "lora: train a low-rank adapter beside the frozen model (little memory); full: "
            "fine-tune every weight (an fp32 copy plus optimizer states and an EMA).",
            default="lora",
            options=MODES,
        ),
        Input("rank", INT, "LoRA rank (lora mode).", default=16, min=1, max=512, step=1),
        Input(
            "alpha",
            FLOAT,
            "LoRA alpha: the update is scaled by alpha / rank (lora mode).",
            default=16.0,
            min=0.01,
            max=1024.0,
            step=0.01,
        ),
        Input("steps", INT, "Optimizer steps.", default=500, min=1, max=1_000_000, step=1),
        Input(
            "learning_rate",
            FLOAT,
            "AdamW learning rate (LoRA: 1e-4 to 1e-3; full: about 1e-5).",
            default=1e-4,
            min=1e-8,
            max=1.0,
            step=1e-6,
        ),
        Input("batch_size", INT, "Samples per step.", default=1, min=1, max=256, step=1),
        Input(
            "resolution",
            COMBO,
            "Bucket the samples are resized and cropped to.",
            default="240p",
            options=RESOLUTIONS,
        ),
        Input(
            "num_frames",
            INT,
            "Frames per training clip (shorter clips are skipped; images train as 1 frame).",
            default=51,
            min=1,
            max=1024,
            step=1,
        ),
        Input(
            "seed",
            INT,
            "Seed of the run (adapter init, noise, batch order): the same seed trains the same.",
            default=0,
            min=0,
            max=MAX_SEED,
            control_after_generate=True,
        ),
        Input(
            "checkpoint_every",
            INT,
            "Write a resumable checkpoint every N steps (0: only at the end or on Cancel).",
            default=0,
            min=0,
            max=1_000_000,
            step=1,
        ),
        Input(
            "base_dtype",
            COMBO,
            "lora mode: how the frozen model is stored while the adapter trains in fp32 "
            "(bf16 halves its memory; fp8 quarters the linear weights).",
            default="fp32",
            options=BASE_DTYPES,
        ),
        Input(
            "output_name",
            STRING,
            "Name of the result: models/loras/<name>.safetensors (lora) or "
            "models/opensora/<name>/ (full); an existing one is replaced.",
            default="opensora_lora",
        ),
    ),
    outputs=(
        Output(
            MODEL,
            "model",
            "The input transformer with the trained adapter (or the fine-tuned transformer).",
        ),
        Output(STRING, "name", "The file's name in models/loras (or models/opensora)."),
        Output(STRING, "log", "Loss per step and where the result was written."),
    ),
    execute=train,
    validate=check_output_name,
)

SPECS = (TRAIN,)
