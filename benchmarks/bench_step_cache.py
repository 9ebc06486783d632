"""Step caching (TeaCache) against the uncached run: calls saved, speed-up, PSNR and latent
relative L2, at 30 rectified-flow steps.

Three transformers: the trained embedded demo model (`embedded`: a batch of held-out
prompts at its trained size, its own CFG and timesteps, decoded by its VAE), a random toy
STDiT3 (`toy`: 64 wide, decoded by a toy 1.2 VAE) and a random STDiT3 of XL/2 width
(`xl`: 1152, 16 heads, reduced depth, same VAE; CFG 7). Each threshold runs the same seed
and noise; the uncached run also records the calibration pairs and prints the polynomial
fitted to them (`--coefficients` runs the cache with another one).

    python benchmarks/bench_step_cache.py --models embedded --thresholds 0.1 0.2 0.3 --repeats 3
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from vae_helpers import tiny_v12_config  # noqa: E402

from sora_core.acceleration import StepCache, calibrate  # noqa: E402
from sora_core.acceleration.step_cache import STDIT3_COEFFICIENTS  # noqa: E402
from sora_core.checkpoints import build_model, build_vae  # noqa: E402
from sora_core.pipeline import (  # noqa: E402
    Placement,
    decode_latent,
    sample_latent,
    size_conditioning,  # noqa: E402
)
from sora_core.samplers import build_scheduler  # noqa: E402

TEXT_TOKENS = 300
# Random-weight toys at the widths the old random demo used: the step cache's behaviour on
# an untrained model (the trained embedded model is timed by bench_generate.py).
TOY_TRANSFORMER = {"type": "STDiT3", "depth": 2, "hidden_size": 64, "num_heads": 4,
                   "caption_channels": 32, "model_max_length": TEXT_TOKENS}  # fmt: skip
TOY_VAE = tiny_v12_config()  # the VAE tests' toy, shaped like the 1.2 release


def psnr(video: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB of frames in [-1, 1] (clamped, peak-to-peak 2)."""
    error = (video.clamp(-1, 1) - reference.clamp(-1, 1)).pow(2).mean().item()
    return float("inf") if error == 0 else 10 * torch.log10(torch.tensor(4.0 / error)).item()


def worst_clip_psnr(video: torch.Tensor, reference: torch.Tensor) -> float:
    """The lowest PSNR of the batch's clips (B, C, T, H, W)."""
    return min(psnr(clip, ref) for clip, ref in zip(video, reference))


def transformer(width: str, depth: int) -> torch.nn.Module:
    torch.manual_seed(0)
    if width == "toy":
        return build_model(TOY_TRANSFORMER).eval()
    config = {"type": "STDiT3", "hidden_size": 1152, "num_heads": 16, "depth": depth}
    return build_model({**config, "model_max_length": TEXT_TOKENS}).eval()


def run(model, vae, latent_size, frames, steps, cache, seed=0):
    """(seconds, latent, decoded video) of one sampling run with `cache`."""
    channels = model.config["caption_channels"]
    text = {
        "y": torch.randn(1, 1, TEXT_TOKENS, channels, generator=torch.Generator().manual_seed(1)),
        "y_null": model.y_embedder.y_embedding[None, None],
        "mask": torch.ones(1, TEXT_TOKENS, dtype=torch.long),
    }
    sampler = build_scheduler(
        {"type": "rflow", "num_sampling_steps": steps, "cfg_scale": 7.0,
         "use_timestep_transform": True}, release="1.2",
    )  # fmt: skip
    latent = torch.randn(1, 4, *latent_size, generator=torch.Generator().manual_seed(seed))
    height, width = latent_size[1] * 8, latent_size[2] * 8
    started = time.perf_counter()
    out = sample_latent(
        model, sampler, text, latent, noise=seed,
        model_kwargs=size_conditioning(1, (height, width), frames, 24), step_cache=cache,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    video = decode_latent(vae, out, Placement.create("cpu", "fp32"), frames)
    return seconds, out, video


def random_runner(name: str, depth: int, frames: int, latent_hw, steps: int):
    """(label, run(cache)) for a random-weight STDiT3 whose latents the toy 1.2 VAE decodes."""
    torch.manual_seed(0)
    vae = build_vae(TOY_VAE).eval()
    latent_size = (vae.get_latent_size([frames, 8, 8])[0], *latent_hw)
    model = transformer(name, depth)
    label = "toy STDiT3 (64 wide)" if name == "toy" else f"STDiT3 1152 wide, depth {depth}"
    label += f", random weights, latent {latent_size}, cfg 7"
    run(model, vae, latent_size, frames, 2, StepCache())  # warm-up
    return label, lambda cache: run(model, vae, latent_size, frames, steps, cache)


def embedded_runner(steps: int, prompts: int, seed: int = 0):
    """(label, run(cache)) for the embedded demo model at its trained size: `prompts`
    held-out captions (both backgrounds) in one batch, its own cfg and timesteps."""
    from dataclasses import replace

    from sora_core.demo.embedded import MODEL_DIR, TRANSFORMER_FILE, file_sha256
    from sora_core.demo.evaluate import load_demo, prompt_scenes
    from sora_core.demo.shapes import HELD_OUT, caption
    from sora_core.pipeline import encode_prompts, generate_batch
    from sora_core.text import prepare_prompts

    session = load_demo(threads=torch.get_num_threads(), num_sampling_steps=steps)
    scenes = prompt_scenes(HELD_OUT)[:prompts]
    encoding = encode_prompts(
        session.models.text_encoder, prepare_prompts([caption(s) for s in scenes]), 1, "cpu"
    )

    def run_embedded(cache: StepCache):
        models, before = replace(session.models, step_cache=cache), cache.seconds
        result = generate_batch(models, encoding, session.clip, noise=seed)
        return cache.seconds - before, result.latent, result.video  # sampling time

    run_embedded(StepCache())  # warm-up
    digest = file_sha256(MODEL_DIR / TRANSFORMER_FILE)[:12]
    clip = session.clip
    label = (
        f"embedded demo STDiT3 (sha256 {digest}), {len(scenes)} prompts, "
        f"{clip.num_frames}x{clip.image_size[0]}x{clip.image_size[1]}, "
        f"cfg {session.models.sampler.cfg_scale}"
    )
    return label, run_embedded


def measure(label: str, run_fn, thresholds, repeats: int, coefficients) -> None:
    """One table section: the uncached run, then each threshold against it."""
    with torch.no_grad():
        plain_times, recorder = [], StepCache(record=True)
        for _ in range(repeats):
            seconds, plain_latent, plain_video = run_fn(recorder)
            plain_times.append(seconds)
        steps = recorder.calls // repeats
        base = statistics.median(plain_times)
        print(f"| {label} | off | {steps} | 1.00x ({base:.2f} s) | - | - | - |", flush=True)
        for threshold in thresholds:
            times = []
            for _ in range(repeats):
                cache = StepCache(threshold, coefficients)
                seconds, latent, video = run_fn(cache)
                times.append(seconds)
            rel = ((latent - plain_latent).norm() / plain_latent.norm()).item()
            print(
                f"| {label} | {threshold:g} | {cache.computed} | "
                f"{base / statistics.median(times):.2f}x | {psnr(video, plain_video):.1f} | "
                f"{worst_clip_psnr(video, plain_video):.1f} | {rel:.2e} |",
                flush=True,
            )
    pairs = recorder.changes
    if len(pairs) > 4:  # a degree-4 fit needs five
        fitted = calibrate([a for a, _ in pairs], [b for _, b in pairs])
        print(f"  {label}: polynomial fitted to its own calls: {[f'{c:.4g}' for c in fitted]}")


def main(argv: "list[str] | None" = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", default=["embedded", "toy", "xl"],
        choices=["embedded", "toy", "xl"],
    )  # fmt: skip
    parser.add_argument("--xl-depth", type=int, default=2, help="STDiT3 block pairs at XL width")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--frames", type=int, default=51, help="pixel frames (51: 15 latent)")
    parser.add_argument("--latent-hw", type=int, nargs=2, default=(18, 32), metavar=("H", "W"))
    parser.add_argument("--prompts", type=int, default=8, help="embedded model: batch size")
    parser.add_argument(
        "--coefficients", type=float, nargs="+", default=list(STDIT3_COEFFICIENTS),
        help="rescaling polynomial, highest power first (default: TeaCache's for 1.2)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1, help="timed runs (median reported)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"machine: cpu, {args.threads} thread(s); {args.steps} rflow steps, median of "
        f"{args.repeats} run(s); rescaling {args.coefficients}"
    )
    print(
        "| model | threshold | transformer calls | speed-up | PSNR (dB) | worst clip PSNR "
        "| latent rel. L2 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        if name == "embedded":
            label, run_fn = embedded_runner(args.steps, args.prompts)
        else:
            label, run_fn = random_runner(
                name, args.xl_depth, args.frames, args.latent_hw, args.steps
            )
        measure(label, run_fn, args.thresholds, args.repeats, tuple(args.coefficients))


if __name__ == "__main__":
    main()
