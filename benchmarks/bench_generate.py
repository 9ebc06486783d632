"""Time the generation pipeline end to end with the embedded demo model.

Measures `sora_core.pipeline.generate_batch` (text encoding, sampling, VAE decoding,
long-video loops) with the models built once, and reports the median over repeats and
the peak memory. The models are small: this measures the pipeline's own overhead and the
shape of the work, not Open-Sora's real speed.

    python benchmarks/bench_generate.py --frames 8 --size 64 64 --steps 25 --repeats 3
"""

import argparse
import statistics
import time

import torch

from sora_core.conditioning import LongVideoSettings
from sora_core.demo.embedded import DEMO_PROMPT, load_embedded_models
from sora_core.pipeline import (
    Placement,
    default_clip_settings,
    encode_prompts,
    generate_batch,
    peak_memory,
)
from sora_core.text import prepare_prompts


def generation_seconds(
    models, settings, prompts: "list[str]", repeats: int
) -> "tuple[list[float], torch.Tensor]":
    """Seconds of each of `repeats` runs of the command line's work per batch (encode the
    prompts, then `generate_batch`), after one warm-up run; and the last video. The text
    encoder's cache is emptied before each run, so every run encodes its prompts."""
    prepared = prepare_prompts(prompts)
    loops = settings.long_video.loop
    device = models.placement.device

    def run(noise: int) -> torch.Tensor:
        models.text_encoder.clear_cache()
        encoding = encode_prompts(models.text_encoder, prepared, loops, device)
        return generate_batch(models, encoding, settings, noise=noise).video

    run(0)  # warm-up
    times = []
    for repeat in range(repeats):
        started = time.perf_counter()
        video = run(repeat)
        times.append(time.perf_counter() - started)
    return times, video


def main(argv: "list[str] | None" = None) -> None:
    """Parse the options, load the embedded model and time `generate_batch`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--size", type=int, nargs=2, default=(64, 64), metavar=("H", "W"))
    parser.add_argument("--steps", type=int, default=25, help="sampling steps")
    parser.add_argument("--loops", type=int, default=1, help="long-video loops")
    parser.add_argument("--batch", type=int, default=1, help="prompts per batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    placement = Placement.create(args.device, args.dtype)
    models = load_embedded_models(placement, num_sampling_steps=args.steps)
    settings = default_clip_settings(
        "1.2",
        image_size=tuple(args.size),
        num_frames=args.frames,
        long_video=LongVideoSettings(loop=args.loops),
    )
    times, video = generation_seconds(models, settings, [DEMO_PROMPT] * args.batch, args.repeats)
    print(
        f"generate_batch {tuple(video.shape)} ({args.steps} steps, {args.loops} loop(s), "
        f"{placement.device}, {args.dtype}): median {statistics.median(times):.2f} s over "
        f"{args.repeats} runs (min {min(times):.2f} s); {peak_memory(placement)}"
    )


if __name__ == "__main__":
    main()
