"""Experiment folders and checkpoints in the reference's layout, written atomically.

    outputs/{index:03d}-{model type}/            one folder per run (index = entries before it)
        config.txt  log.jsonl  tensorboard/
        epoch{e}-global_step{s}/                 one per checkpoint
            model.safetensors  config.json       the trained weights (a loadable model folder)
            ema.pt                               the EMA weights, the file releases ship
            lora.safetensors                     instead of the three above in a LoRA run:
                                                 the adapters alone (the base stays frozen)
            optimizer.pt  lr_scheduler.pt        full (unsharded) states
            sampler.json                         where the epoch's batch order stands
            training_config.json                 the resolved config of the run
            running_states.json                  {"epoch", "step", "global_step", "batch_size"}

A checkpoint is written under a hidden temporary name and renamed when complete, so a
crash leaves no folder that looks finished; `running_states.json` is written last as a
second guard. States are gathered to full tensors, so a checkpoint written by N ranks
(DDP or FSDP2) loads in one process, and vice versa.
"""

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..errors import CheckpointError
from ..json_files import read_json_file
from ..lora.files import LORA_FILE

CHECKPOINT_NAME = re.compile(r"^epoch(\d+)-global_step(\d+)$")
FINISHED_MARK = "running_states.json"
TEMPORARY_PREFIX = ".tmp-"


@dataclass(frozen=True)
class RunningState:
    """Where training stands: `step` batches of `epoch` done, `global_step` steps in all."""

    epoch: int
    step: int
    global_step: int
    batch_size: "int | None" = None


def experiment_dir(outputs: "str | Path", model_type: str) -> Path:
    """`{outputs}/{index:03d}-{model type, '/' -> '-'}`, index = entries already in `outputs`."""
    outputs = Path(outputs)
    index = len(list(outputs.iterdir())) if outputs.is_dir() else 0
    return outputs / f"{index:03d}-{model_type.replace('/', '-')}"


def is_checkpoint(folder: Path) -> bool:
    """A finished checkpoint folder: the reference's name and its running state written."""
    return CHECKPOINT_NAME.match(folder.name) is not None and (folder / FINISHED_MARK).is_file()


def checkpoints_in(exp_dir: "str | Path") -> "list[Path]":
    """The finished checkpoints of an experiment folder, oldest (fewest steps) first."""
    exp_dir = Path(exp_dir)
    found = [folder for folder in exp_dir.iterdir() if folder.is_dir() and is_checkpoint(folder)]
    return sorted(found, key=lambda folder: int(CHECKPOINT_NAME.match(folder.name).group(2)))


def resolve_checkpoint(path: "str | Path") -> Path:
    """A checkpoint folder itself, or the latest finished checkpoint of an experiment folder."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"load = {str(path)!r}: no such checkpoint folder")
    if is_checkpoint(path):
        return path
    if CHECKPOINT_NAME.match(path.name):
        raise CheckpointError(
            f"load = {str(path)!r} is an unfinished checkpoint (no {FINISHED_MARK}); "
            "give an earlier one or the experiment folder to take the latest finished one"
        )
    found = checkpoints_in(path)
    if not found:
        raise CheckpointError(
            f"load = {str(path)!r} holds no finished checkpoint (epoch<e>-global_step<s>/ "
            f"with {FINISHED_MARK})"
        )
    return found[-1]


def save_checkpoint(
    exp_dir: Path,
    state: RunningState,
    *,
    model_state: "dict | None",
    model_config: "dict | None",
    ema_state: "dict | None",
    optimizer_state: dict,
    lr_scheduler_state: "dict | None",
    sampler_state: "dict | None",
    training_config: dict,
    keep_last: "int | None" = None,
    lora=None,
) -> Path:
    """Write one checkpoint (main rank only) and drop the oldest beyond `keep_last`.

    `lora` (`sora_core.lora.LoRAWeights`): the trained adapters, written as
    `lora.safetensors` (what `--lora` and the LoRA node load, and what a LoRA run resumes
    from); a LoRA run passes no `model_state` / `ema_state`, as its base never changes."""
    final = exp_dir / f"epoch{state.epoch}-global_step{state.global_step}"
    staging = exp_dir / f"{TEMPORARY_PREFIX}{final.name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if model_state is not None:
        save_file(
            {k: v.contiguous() for k, v in model_state.items()}, str(staging / "model.safetensors")
        )
        _write_json(staging / "config.json", model_config)
    if ema_state is not None:
        torch.save(ema_state, staging / "ema.pt")
    torch.save(optimizer_state, staging / "optimizer.pt")
    if lr_scheduler_state is not None:
        torch.save(lr_scheduler_state, staging / "lr_scheduler.pt")
    if sampler_state is not None:
        _write_json(staging / "sampler.json", sampler_state)
    _write_json(staging / "training_config.json", training_config)
    if lora is not None:
        from ..lora import save_lora

        save_lora(lora, staging / LORA_FILE)
    _write_json(staging / FINISHED_MARK, state.__dict__)
    if final.exists():  # a rerun of the same step: replace it whole
        shutil.rmtree(final)
    staging.rename(final)
    if keep_last is not None:
        for old in checkpoints_in(exp_dir)[:-keep_last]:
            shutil.rmtree(old)
    return final


@dataclass
class LoadedCheckpoint:
    """The states of one checkpoint folder, read on the CPU."""

    folder: Path
    state: RunningState
    model_state: "dict | None"  # None in a LoRA run's checkpoint
    ema_state: "dict | None"
    optimizer_state: "dict | None"
    lr_scheduler_state: "dict | None"
    sampler_state: "dict | None"
    lora: object = None  # sora_core.lora.LoRAWeights of a LoRA run's checkpoint


def read_checkpoint(path: "str | Path") -> LoadedCheckpoint:
    """Read a checkpoint folder (or the latest one of an experiment folder)."""
    from ..checkpoints.files import read_state_dict
    from ..lora import read_lora

    folder = resolve_checkpoint(path)

    def optional(name: str, read):
        return read(folder / name) if (folder / name).is_file() else None

    def torch_file(file: Path):
        return torch.load(file, map_location="cpu", weights_only=True)

    running = read_json_file(folder / FINISHED_MARK, "training state", CheckpointError)
    try:
        state = RunningState(**running)
    except TypeError as error:  # unknown or missing fields
        raise CheckpointError(f"{str(folder / FINISHED_MARK)!r}: {error}") from None
    return LoadedCheckpoint(
        folder=folder,
        state=state,
        model_state=optional("model.safetensors", read_state_dict),
        ema_state=optional("ema.pt", torch_file),
        optimizer_state=optional("optimizer.pt", torch_file),
        lr_scheduler_state=optional("lr_scheduler.pt", torch_file),
        sampler_state=optional(
            "sampler.json", lambda file: read_json_file(file, "sampler state", CheckpointError)
        ),
        lora=optional(LORA_FILE, read_lora),
    )


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=4, default=str), encoding="utf-8")
