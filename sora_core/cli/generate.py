"""`opensora-generate`: Open-Sora's inference script on top of `sora_core.pipeline`.

Flags and config are merged (`generate_config`), the request is checked before any model
loads (`generate_plan`), then each batch of prompts is generated `num_sample` times and
written as MP4 (PNG for one frame) under the reference's sample names, with a progress bar
over loops and steps and a one-line summary at the end.
"""

import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..acceleration import apply_acceleration
from ..acceleration.sequence_parallel import SequenceParallel, local_device
from ..acceleration.sequence_parallel import from_environment as sequence_parallel_from_environment
from ..demo.embedded import DEMO_PROMPT, embedded_config
from ..errors import ConfigError
from ..geometry import latent_size
from ..lora import apply_lora_files
from ..pipeline import encode_prompts, generate_batch, peak_memory, reset_peak_memory
from ..pipeline.loading import load_generation_models
from ..samplers import GeneratorNoise
from ..video_io import save_sample
from .generate_config import PROGRAM, merge_flags
from .generate_plan import GenerationPlan, plan_generation

MODEL_SECTIONS = ("model", "vae", "text_encoder", "scheduler")


def uses_embedded_model(flags) -> bool:
    """`--demo`, or no config file and no `--ckpt-path`: the embedded demo model runs."""
    return bool(flags.demo or (flags.config is None and flags.ckpt_path is None))


def _demo_config(config: dict, flags) -> dict:
    """The embedded model's config with the user's flags (and config file, if any) over it."""
    base = embedded_config()
    if flags.config:
        base.update({key: value for key, value in config.items() if key not in MODEL_SECTIONS})
        base["scheduler"] = {**base["scheduler"], **config.get("scheduler", {})}
    if flags.resolution is not None or flags.aspect_ratio is not None:
        # a named size asked for replaces the trained one, square as trained unless asked
        base.pop("image_size", None)
        base.setdefault("aspect_ratio", "1:1")
    merged = merge_flags(base, flags)
    if merged.get("prompt") is None and merged.get("prompt_path") is None:
        merged["prompt"] = [DEMO_PROMPT]
    return merged


def _existing(stems: "list[str]") -> bool:
    return all(Path(f"{stem}.mp4").exists() or Path(f"{stem}.png").exists() for stem in stems)


def run_plan(
    plan: GenerationPlan, models, progress: bool = True, write: bool = True
) -> "list[Path]":
    """Generate and save every sample of `plan` with loaded `models`; returns the files
    (`write=False`: generate only, as the other processes of a sequence-parallel run)."""
    noise = GeneratorNoise(plan.seed)
    loops = plan.clip.long_video.loop
    steps = models.sampler.num_sampling_steps
    runs = len(plan.batches) * plan.num_sample
    bar = tqdm(total=runs * loops * steps, unit="step", disable=not progress, file=sys.stderr)
    written: list[Path] = []
    try:
        for batch in plan.batches:
            encoding = None  # once per batch, when a sample needs it
            for k, stems in enumerate(batch.save_stems):
                if plan.prompt_as_path and _existing(stems):
                    bar.update(loops * steps)
                    continue  # resuming a run that named samples after their prompts

                def report(loop_index, step, name=Path(stems[0]).name, k=k):
                    bar.set_description(f"{name} loop {loop_index + 1}/{loops}", refresh=False)
                    bar.update(1)

                if encoding is None:
                    encoding = encode_prompts(
                        models.text_encoder, batch.prompts, loops, plan.placement.device
                    )
                result = generate_batch(
                    models,
                    encoding,
                    plan.clip,
                    noise,
                    references=batch.references,
                    callback=report,
                )
                for video, stem in zip(result.video, stems, strict=True):
                    if write:
                        written.append(save_sample(video, stem, plan.save_fps))
    finally:
        bar.close()
    return written


def _sampling_summary(cache) -> str:
    """Transformer calls made (and those the step cache answered) and the sampling time."""
    reused = f", {cache.reused} more answered by the step cache" if cache.threshold else ""
    return f"{cache.computed} transformer calls{reused}, sampling {cache.seconds:.1f} s"


def _block_swap_summary(transformer, plan: GenerationPlan) -> str:
    swap = getattr(transformer, "block_swap", None)
    if swap is not None:
        return f"; {swap.describe()}"
    if plan.acceleration.block_swap is not None:
        return f"; block swap not needed on {plan.placement.device} (weights stay in its memory)"
    return ""


def generate(config: dict, flags) -> int:
    """Check, load, generate, save, summarise a parsed run (errors propagate)."""
    demo = uses_embedded_model(flags)
    if demo:
        config = _demo_config(config, flags)
    plan = plan_generation(config)
    plan, parallel = _join_processes(plan)
    try:
        return _generate(plan, demo, parallel)
    finally:
        if parallel is not None:
            torch.distributed.destroy_process_group()


def _join_processes(plan: GenerationPlan) -> "tuple[GenerationPlan, SequenceParallel | None]":
    """Under `torchrun --nproc_per_node N` (N > 1): join the process group, each process on
    its own GPU; the transformer's tokens are then split over the processes."""
    parallel = sequence_parallel_from_environment(plan.placement.device)
    if parallel is None:
        return plan, None
    if plan.acceleration.compile:
        raise ConfigError(
            "--compile: not with sequence parallelism (torchrun with several processes): "
            "the compiled blocks would have to trace the all-to-all exchanges; drop one"
        )
    placement = replace(plan.placement, device=local_device(plan.placement.device))
    return replace(plan, placement=placement), parallel


def _generate(plan: GenerationPlan, demo: bool, parallel: "SequenceParallel | None") -> int:
    started = time.perf_counter()
    reset_peak_memory(plan.placement)
    if demo and plan.placement.device.type == "cpu":
        # Toy-sized tensors: thread hand-offs cost more than they give on a busy CPU.
        torch.set_num_threads(1)
    size = latent_size([plan.clip.num_frames, *plan.clip.image_size], plan.models["vae"]["type"])
    models = load_generation_models(plan.models, plan.placement, size)
    apply_lora_files(models.transformer, plan.loras)
    apply_acceleration(models, plan.acceleration)
    first = parallel is None or parallel.rank == 0  # the process that writes and reports
    if parallel is not None:
        parallel.install(models.transformer)
    written = run_plan(plan, models, progress=first and plan.verbose >= 1, write=first)
    if not first:
        return 0
    elapsed = time.perf_counter() - started
    height, width = plan.clip.decoded_size
    folder = written[0].parent if written else "nothing new"
    print(
        f"{PROGRAM}: {len(written)} sample(s) of {plan.total_frames} frames at {height}x{width}, "
        f"{plan.save_fps:g} fps -> {folder} in {elapsed:.1f} s "
        f"({plan.placement.device}, {str(plan.placement.dtype).removeprefix('torch.')}, "
        f"{peak_memory(plan.placement)}); {_sampling_summary(models.step_cache)}"
        + _block_swap_summary(models.transformer, plan)
        + (f"; sequence parallel over {parallel.size} processes" if parallel else "")
        + (" [embedded demo model]" if demo else "")
    )
    return 0
