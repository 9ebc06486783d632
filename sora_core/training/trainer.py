"""The training loop of Open-Sora's `scripts/train.py`, readable top to bottom.

One step: encode the clips with the VAE and the captions with T5 (both frozen), draw
frame masks, compute the scheduler's `training_losses`, step AdamW under the warm-up
schedule with gradient clipping, and move the EMA. Every random draw of a step is keyed
by sample (see `streams`), so one process and N processes with the same global batch
draw the same numbers, and resuming replays nothing.

A LoRA run (`models.lora`) keeps no EMA (`ema` is None): the base is frozen and an average
of the small adapters is not what anyone ships, while the copy would double the memory.
Its checkpoints hold the adapters alone (`lora.safetensors`) and it resumes from them.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from tqdm import tqdm

from ..errors import CheckpointError
from ..samplers import training_losses
from .checkpoint import RunningState, read_checkpoint, save_checkpoint
from .config import DTYPES
from .distributed import Ranks, barrier, mean_over_ranks, sum_over_ranks, unwrap
from .ema import update_ema
from .lr_schedule import LinearWarmupLR
from .metrics import MetricsLog, peak_memory_mb
from .models import TrainingModels
from .streams import SampleNoise, sample_seeds, seeded_host_rng

logger = logging.getLogger(__name__)
FULL_STATE = StateDictOptions(full_state_dict=True, cpu_offload=True)
# A LoRA run's adapters alone (the parameters that require gradients).
TRAINED_STATE = StateDictOptions(
    full_state_dict=True, cpu_offload=True, ignore_frozen_params=True, strict=False
)
NOISE_STREAM, MASK_STREAM, MODEL_STREAM = 0, 1, 2


@dataclass
class StepResult:
    """What one optimizer step reports."""

    loss: float  # mean over ranks
    samples: int  # over all ranks


@dataclass
class TrainingHooks:
    """How a caller (the ComfyUI Train node) follows and stops a run, between steps.

    `on_step(steps_done, total_steps, loss)` runs after every step (loss None when every
    sample of the step was skipped); when `should_stop()` turns true the run saves a
    resumable checkpoint of the steps done and returns. Give the same hooks on every rank.
    """

    on_step: "Callable[[int, int, float | None], None] | None" = None
    should_stop: "Callable[[], bool] | None" = None


class Trainer:
    """Trains `models.model` on `data` (a `datasets.TrainingLoader`), writing to `exp_dir` on rank 0.

    `mask_generator` draws each sample's frame mask (Open-Sora's `mask_ratios` or Open-Sora
    Plan's `mask_config`); `condition_noise` is Plan's `add_noise_to_condition`.
    """

    def __init__(
        self,
        settings: dict,
        models: TrainingModels,
        ema: "torch.nn.Module | None",
        model: torch.nn.Module,
        data,
        ranks: Ranks,
        exp_dir: Path,
        mask_generator=None,
        condition_noise=None,
        metrics: "MetricsLog | None" = None,
        hooks: "TrainingHooks | None" = None,
    ):
        self.settings, self.models, self.ema, self.model = settings, models, ema, model
        self.hooks = hooks or TrainingHooks()
        self.stopped = False  # set when `hooks.should_stop` ended the run early
        self.data, self.ranks, self.exp_dir = data, ranks, exp_dir
        self.mask_generator, self.condition_noise = mask_generator, condition_noise
        self.metrics = metrics
        self.seed = int(settings["seed"])
        self.amp_dtype = DTYPES[settings["dtype"]]
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=settings["lr"],
            weight_decay=settings["weight_decay"],
            eps=settings["adam_eps"],
        )
        warmup = settings["warmup_steps"]
        self.lr_schedule = None if warmup is None else LinearWarmupLR(self.optimizer, warmup)
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none.
        self.scaler = torch.amp.GradScaler(
            ranks.device.type, enabled=self.amp_dtype == torch.float16
        )
        self.start = RunningState(epoch=0, step=0, global_step=0)

    # --- one step -----------------------------------------------------------------------------
    def _autocast(self):
        if self.amp_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.ranks.device.type, dtype=self.amp_dtype)

    def _encode(self, batch: dict, noise: SampleNoise) -> "tuple[torch.Tensor, dict]":
        """Clean latents (B, C, T, H, W) in fp32 and the model's text arguments."""
        device, vae, text_encoder = self.ranks.device, self.models.vae, self.models.text_encoder
        video, text = batch.pop("video").to(device), batch.pop("text")
        with torch.no_grad():
            if vae is None:  # pre-extracted latents
                latent = video
            else:
                latent = vae.encode(video.to(vae.dtype), noise=noise.vae_noise(video.shape[2]))
            if text_encoder is None:  # pre-extracted caption features
                model_args = {"y": text.to(device), "mask": batch.pop("mask").to(device)}
            else:  # an encoder kept on another device (ComfyUI's T5 on the CPU) is allowed
                model_args = {
                    key: value.to(device) if isinstance(value, torch.Tensor) else value
                    for key, value in text_encoder.encode(list(text)).items()
                }
        return latent.to(device).float(), model_args

    def _frame_masks(self, latent: torch.Tensor, indices: "list[int]", step: int):
        """(B, T) bool masks, one draw per sample from its own keyed generators."""
        if self.mask_generator is None:
            return None
        masks = []
        for seed in sample_seeds(self.seed, step, indices, MASK_STREAM):
            with seeded_host_rng(seed):
                masks.append(self.mask_generator.get_mask(latent))
        return torch.stack(masks).to(latent.device)

    def train_step(self, batch: dict, global_step: int) -> "StepResult | None":
        """One optimizer step on this rank's `batch` (the batch contract of `datasets.loader`).

        None when a rank's batch is empty (every file in it skipped): all ranks then skip
        the update together, so the collectives stay in step.
        """
        indices = [int(index) for index in batch.pop("index")]
        batch.pop("skipped", None)
        if sum_over_ranks(int(not indices), self.ranks):
            return None
        noise = SampleNoise(sample_seeds(self.seed, global_step, indices, NOISE_STREAM))
        latent, model_args = self._encode(batch, noise)
        mask = self._frame_masks(latent, indices, global_step)
        if mask is not None:
            model_args["x_mask"] = mask
            if self.condition_noise is not None:
                latent = self.condition_noise(latent, mask, noise=noise)
        for key, value in batch.items():  # num_frames, height, width, ar, fps
            if isinstance(value, torch.Tensor):
                model_args[key] = value.to(self.ranks.device, torch.float32)

        # Randomness inside the model (caption dropout, drop path) is keyed by step and rank.
        torch.manual_seed(sample_seeds(self.seed, global_step, [self.ranks.rank], MODEL_STREAM)[0])
        with self._autocast():
            terms = training_losses(
                self.models.scheduler, self.model, latent, model_args, mask=mask, rng=noise
            )
        loss = terms["loss"].mean()
        self.scaler.scale(loss).backward()
        if self.settings["grad_clip"] > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings["grad_clip"])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.lr_schedule is not None:
            self.lr_schedule.step()
        if self.ema is not None:
            update_ema(self.ema, unwrap(self.model), decay=self.settings["ema_decay"])
        return StepResult(
            loss=float(mean_over_ranks(loss.detach(), self.ranks)),
            samples=sum_over_ranks(len(indices), self.ranks),
        )

    # --- the loop -----------------------------------------------------------------------------
    def total_steps(self) -> int:
        """Steps of the whole run: every epoch's batches, capped by `max_steps`."""
        total = self.settings["epochs"] * self.data.num_batches()
        max_steps = self.settings.get("max_steps")
        return total if max_steps is None else min(total, max_steps)

    def _stop_requested(self) -> bool:
        if self.hooks.should_stop is None:
            return False
        return bool(sum_over_ranks(int(bool(self.hooks.should_stop())), self.ranks))

    def fit(self) -> "Path | None":
        """Train to the configured epoch count (or `max_steps`, or until `hooks.should_stop`);
        returns the last checkpoint folder written, which always holds the last step done."""
        steps_per_epoch = self.data.num_batches()
        total = self.total_steps()
        log_every, ckpt_every = self.settings["log_every"], self.settings["ckpt_every"]
        last_saved, window, done = None, _Window(), self.start
        for epoch in range(self.start.epoch, self.settings["epochs"]):
            if done.global_step >= total or self.stopped:
                break
            first = self.start.step if epoch == self.start.epoch else 0
            bar = tqdm(
                self.data.batches(epoch, first),
                desc=f"Epoch {epoch}",
                total=steps_per_epoch,
                initial=first,
                disable=not self.ranks.is_main,
            )
            for step, batch in enumerate(bar, start=first):
                global_step = epoch * steps_per_epoch + step
                started = time.perf_counter()
                result = self.train_step(batch, global_step)
                if self.ranks.device.type == "cuda":
                    torch.cuda.synchronize(self.ranks.device)
                if result is not None:
                    window.add(result, time.perf_counter() - started)
                if (global_step + 1) % log_every == 0 and window.losses:
                    bar.set_postfix(loss=f"{window.mean_loss:.4f}", global_step=global_step + 1)
                    self._log(epoch, global_step + 1, window)
                    window = _Window()
                done = RunningState(epoch, step + 1, global_step + 1)
                if self.hooks.on_step is not None:
                    self.hooks.on_step(done.global_step, total, result and result.loss)
                if ckpt_every and done.global_step % ckpt_every == 0:
                    last_saved = self.save(done)
                if done.global_step >= total:
                    break
                if self._stop_requested():
                    self.stopped = True
                    break
            bar.close()
            self._report_skipped(epoch)
        if last_saved is None or last_saved.name != _folder_name(done):
            if done.global_step > self.start.global_step:
                last_saved = self.save(done)
        return last_saved

    def _log(self, epoch: int, global_step: int, window: "_Window") -> None:
        if self.metrics is None:
            return
        record = {
            "epoch": epoch,
            "global_step": global_step,
            "loss": window.mean_loss,
            "lr": self.optimizer.param_groups[0]["lr"],
            "step_time": window.mean_time,
            "samples_per_s": window.samples / window.seconds,
        }
        peak = peak_memory_mb(self.ranks.device)
        if peak is not None:
            record["peak_memory_mb"] = peak
        self.metrics.log(record)

    def _report_skipped(self, epoch: int) -> None:
        skipped = self.data.take_skipped()  # this rank's rows, one line each
        total = sum_over_ranks(len(skipped), self.ranks)
        if total:
            listed = "; ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
            where = f"rank {self.ranks.rank}: " if self.ranks.distributed else ""
            logger.warning("epoch %d: %d sample(s) skipped (%s%s)", epoch, total, where, listed)

    # --- checkpoints --------------------------------------------------------------------------
    def save(self, state: RunningState) -> Path:
        """Gather full states on every rank; rank 0 writes the checkpoint folder."""
        lora = self.models.lora
        if lora is None:
            model_state = get_model_state_dict(self.model, options=FULL_STATE)
            ema_state = get_model_state_dict(self.ema, options=FULL_STATE)
        else:  # the trained tensors are the adapters; the frozen base is not gathered
            model_state = get_model_state_dict(self.model, options=TRAINED_STATE)
            ema_state = None
        optimizer_state = get_optimizer_state_dict(self.model, self.optimizer, options=FULL_STATE)
        folder = self.exp_dir / _folder_name(state)
        if self.ranks.is_main:
            folder = save_checkpoint(
                self.exp_dir,
                RunningState(
                    state.epoch, state.step, state.global_step, self.settings["batch_size"]
                ),
                model_state=None if lora is not None else model_state,
                model_config=None if lora is not None else _model_config(unwrap(self.model)),
                ema_state=ema_state,
                optimizer_state=optimizer_state,
                lr_scheduler_state=None
                if self.lr_schedule is None
                else self.lr_schedule.state_dict(),
                sampler_state=self.data.state_dict(state.epoch, state.step),
                training_config=self.settings,
                keep_last=self.settings["keep_last_ckpts"],
                lora=None if lora is None else lora.weights(model_state),
            )
            tqdm.write(f"saved checkpoint {folder}")
        barrier(self.ranks)
        return folder

    def load(self, path: "str | Path", start_from_scratch: bool = False) -> Path:
        """Resume from a checkpoint: weights, EMA, optimizer, schedule and batch position."""
        checkpoint = read_checkpoint(path)
        lora = self.models.lora
        if lora is not None:
            if checkpoint.lora is None:
                raise CheckpointError(
                    f"load = {str(checkpoint.folder)!r} is not a LoRA run's checkpoint (no "
                    "lora.safetensors); this run trains lora = dict(...) adapters. Start "
                    "adapters on released weights with model.from_pretrained instead"
                )
            set_model_state_dict(
                self.model, lora.model_state(checkpoint.lora), options=TRAINED_STATE
            )
        elif checkpoint.model_state is None:
            raise CheckpointError(
                f"load = {str(checkpoint.folder)!r} is a LoRA run's checkpoint (adapters "
                "only); resume it with the same lora = dict(...) setting"
            )
        else:
            set_model_state_dict(self.model, checkpoint.model_state, options=FULL_STATE)
        if self.ema is not None and checkpoint.ema_state is not None:
            set_model_state_dict(
                self.ema,
                checkpoint.ema_state,
                options=StateDictOptions(full_state_dict=True, strict=False),
            )
        if checkpoint.optimizer_state is not None:
            set_optimizer_state_dict(
                self.model, self.optimizer, checkpoint.optimizer_state, options=FULL_STATE
            )
        if self.lr_schedule is not None and checkpoint.lr_scheduler_state is not None:
            self.lr_schedule.load_state_dict(checkpoint.lr_scheduler_state)
        if not start_from_scratch:
            self.start = checkpoint.state
        return checkpoint.folder


class _Window:
    """Losses and timings since the last log line."""

    def __init__(self):
        self.losses, self.seconds, self.samples = [], 0.0, 0

    def add(self, result: StepResult, seconds: float) -> None:
        self.losses.append(result.loss)
        self.seconds += seconds
        self.samples += result.samples

    @property
    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses)

    @property
    def mean_time(self) -> float:
        return self.seconds / len(self.losses)


def _folder_name(state: RunningState) -> str:
    return f"epoch{state.epoch}-global_step{state.global_step}"


def _model_config(model: torch.nn.Module) -> dict:
    """The `config.json` that makes a checkpoint folder loadable by `load_transformer`."""
    config = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in model.config.items()
    }
    return {"architectures": [type(model).__name__], "model_type": type(model).__name__, **config}
