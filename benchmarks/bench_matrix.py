"""One table of speed and memory for the machine it runs on: the transformer step at the
240p/480p/720p shapes with its achieved FLOP/s, VAE decode (tiled and not), T5 memory per
loading mode, and end-to-end seconds per video per mode.

The sizes follow the machine. On a GPU: STDiT3-XL/2 at full depth (28 block pairs) in bf16
with CFG's batch of 2, the released 1.2 VAE, T5-v1.1-XXL (all random weights). On a CPU:
XL/2 width at depth 1, one sample, fp32; the 1.2 VAE at tiny widths; T5 at XXL width with
one layer. End to end runs the embedded demo model through `generate_batch` everywhere.
Figures are medians of `--runs`; peak memory is measured as `peak_memory.py` says.
`--quick`: toy sizes, one run each, for a smoke test (its numbers mean nothing).

    python benchmarks/bench_matrix.py [--quick] [--json matrix.json]
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
import bench_vae  # noqa: E402
import text_encoder_memory  # noqa: E402
from bench_generate import generation_seconds  # noqa: E402
from bench_stdit import PRESETS, forward_flops, matmul_rate  # noqa: E402
from bench_step_cache import psnr  # noqa: E402
from peak_memory import PeakMemory, method  # noqa: E402
from stdit3_forward import median_forward, stdit3, stdit3_inputs  # noqa: E402

from sora_core.acceleration import RECOMMENDED_THRESHOLD, BlockSwap, StepCache  # noqa: E402
from sora_core.acceleration.block_swap import execution_order, tensor_bytes  # noqa: E402
from sora_core.demo.embedded import DEMO_PROMPT, load_embedded_models  # noqa: E402
from sora_core.dtypes import resolve_dtype  # noqa: E402
from sora_core.lora.apply import store_base_weights  # noqa: E402
from sora_core.pipeline import Placement, default_clip_settings  # noqa: E402
from sora_core.text.t5_model import T5_V1_1_XXL  # noqa: E402

CAPTION_TOKENS = 300  # `stdit3_inputs`' captions: the 1.2 release's model_max_length
END_TO_END_MODES = ("resident", "lowvram", "block swap", "fp8", "step cache")


@dataclass
class Plan:
    """The sizes one machine runs (`plan_for`)."""

    device: str
    dtype: str
    runs: int
    warmup: int
    depth: int  # STDiT3 block pairs (28 = XL/2)
    hidden: int
    heads: int
    batch: int  # 2 = one prompt with CFG
    latents: dict  # preset name -> latent (T, H, W)
    matmul_size: int
    vae: dict  # label -> bench_vae command line
    t5: dict  # T5 config
    t5_modes: list
    e2e: dict = field(default_factory=dict)  # frames, size, steps
    vae_fresh_processes: bool = True  # each VAE decode in its own process (own peak memory)


def plan_for(device: torch.device, quick: bool) -> Plan:
    """Full sizes on CUDA, reduced ones on a CPU, toys with `quick`."""
    if quick:
        toy = {"240p": (2, 4, 6), "480p": (2, 6, 8), "720p": (2, 8, 10)}
        return Plan(
            str(device), "fp32", runs=1, warmup=0, depth=1, hidden=64, heads=4, batch=1,
            latents=toy, matmul_size=256,
            vae={"5 frames 32x48 (tiny widths)": [
                "--size", "tiny", "--frames", "5", "--height", "32", "--width", "48",
                "--tile-sizes", "2", "--repeats", "1"]},
            t5={**T5_V1_1_XXL, "d_model": 64, "d_kv": 16, "d_ff": 128, "num_heads": 4,
                "num_layers": 1},
            t5_modes=["fp32", "fp8 weights, bf16 compute"],
            e2e={"frames": 8, "size": (64, 64), "steps": 2}, vae_fresh_processes=False,
        )  # fmt: skip
    if device.type == "cuda":
        release = ["--size", "release", "--device", "cuda", "--dtype", "bf16", "--frames", "51"]
        return Plan(
            str(device), "bf16", runs=3, warmup=1, depth=28, hidden=1152, heads=16, batch=2,
            latents=dict(PRESETS), matmul_size=8192,
            vae={
                "480p 51 frames": [*release, "--height", "480", "--width", "854",
                                   "--tile-sizes", "32", "16"],
                "720p 51 frames": [*release, "--height", "720", "--width", "1280",
                                   "--tile-sizes", "32", "16"],
            },
            t5=dict(T5_V1_1_XXL),
            t5_modes=["bf16", "bf16, cast on use", "fp8 weights, bf16 compute"],
            e2e={"frames": 8, "size": (64, 64), "steps": 30},
        )  # fmt: skip
    return Plan(
        str(device), "fp32", runs=3, warmup=0, depth=1, hidden=1152, heads=16, batch=1,
        latents=dict(PRESETS), matmul_size=2048,
        vae={"240p 17 frames (tiny widths)": [
            "--size", "tiny", "--frames", "17", "--height", "240", "--width", "426",
            "--tile-sizes", "16", "8", "--repeats", "3"]},
        t5={**T5_V1_1_XXL, "num_layers": 1},
        t5_modes=["fp32", "bf16", "fp8 weights, bf16 compute"],
        e2e={"frames": 8, "size": (64, 64), "steps": 30},
    )  # fmt: skip


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the sections ---------------------------------------------------------------------------
def transformer_rows(plan: Plan) -> "list[dict]":
    """One STDiT3 forward (a sampling step for `batch` samples) per preset shape."""
    device, dtype = torch.device(plan.device), resolve_dtype(plan.dtype)
    model = stdit3(plan.depth, plan.hidden, plan.heads).to(device, dtype)
    weights = tensor_bytes(model.parameters())
    ceiling = matmul_rate(device, dtype, plan.matmul_size)
    rows = []
    for preset, latent in plan.latents.items():
        inputs = stdit3_inputs(latent, device)
        for key in ("x", "timestep", "y", "mask"):
            inputs[key] = inputs[key][: plan.batch]
        with PeakMemory(device) as peak:
            seconds, _ = median_forward(model, inputs, device, plan.runs, plan.warmup)
        flops = forward_flops(plan.batch, latent, plan.hidden, plan.depth, CAPTION_TOKENS)
        rows.append({
            "shape": preset, "latent": "x".join(map(str, latent)), "depth": plan.depth,
            "batch": plan.batch, "step_s": seconds, "weights_mib": weights / 2**20,
            "peak_mib": peak.mib, "tflop": flops / 1e12, "achieved_tflops": flops / seconds / 1e12,
            "matmul_tflops": ceiling / 1e12, "of_matmul": flops / seconds / ceiling,
        })  # fmt: skip
    return rows


def vae_rows(plan: Plan) -> "list[dict]":
    """`bench_vae`'s untiled and tiled decodes (each in a fresh process) per size."""
    rows = []
    for label, argv in plan.vae.items():
        for result in bench_vae.measure_tilings(argv, plan.vae_fresh_processes):
            rows.append({
                "video": label, "tiling": bench_vae.tiling_name(result),
                "decode_s": result["median_s"], "peak_mib": result["peak_bytes"] / 2**20,
                "estimate_mib": result["estimate_bytes"] / 2**20,
            })  # fmt: skip
    return rows


def t5_rows(plan: Plan) -> "list[dict]":
    """Weights and encode peak of a random-weight T5 of `plan.t5` per mode, one 300-token
    prompt; "cast on use" leaves the weights in CPU memory and computes on the device."""
    device = torch.device(plan.device)
    ids = torch.randint(2, plan.t5["vocab_size"], (1, CAPTION_TOKENS), device=device)
    rows = []
    for mode in plan.t5_modes:
        cast_on_use = mode.endswith(", cast on use")
        storage = mode.removesuffix(", cast on use")
        model = text_encoder_memory.random_t5(plan.t5, storage)
        if not cast_on_use:
            model.to(device)
        times = []
        with PeakMemory(device) as peak, torch.inference_mode():
            for _ in range(plan.warmup + plan.runs):
                synchronize(device)
                started = time.perf_counter()
                model(input_ids=ids)
                synchronize(device)
                times.append(time.perf_counter() - started)
        rows.append({
            "mode": mode, "layers": plan.t5["num_layers"], "width": plan.t5["d_model"],
            "weights_mib": tensor_bytes([*model.parameters(), *model.buffers()]) / 2**20,
            "xxl_weights_gib": text_encoder_memory.weight_bytes(T5_V1_1_XXL, storage) / 2**30,
            "peak_mib": peak.mib, "encode_s": statistics.median(times[plan.warmup :]),
        })  # fmt: skip
        del model
    return rows


def apply_mode(models, mode: str, device: torch.device) -> str:
    """Set up `models` for one end-to-end mode; what was done, in words."""
    transformer = models.transformer
    if mode == "lowvram":
        BlockSwap.install(transformer, 0, device, "cpu")
        return "every transformer block streamed from CPU memory; idle models offloaded"
    if mode == "block swap":
        # On a GPU from free memory; on a CPU half the blocks, to show what streaming costs.
        half = None if device.type == "cuda" else len(execution_order(transformer)) // 2
        swap = BlockSwap.install(transformer, half, device, "cpu")
        return f"{swap.resident} of {len(execution_order(transformer))} blocks resident"
    if mode == "fp8":
        store_base_weights(transformer, "fp8")
        return "transformer linear weights in float8_e4m3fn, computed in bf16"
    if mode == "step cache":
        models.step_cache = StepCache(RECOMMENDED_THRESHOLD)
        return f"threshold {RECOMMENDED_THRESHOLD}"
    return "every model stays on the device"


def end_to_end_rows(plan: Plan) -> "list[dict]":
    """Seconds per video (prompt encoding, sampling with CFG, decoding) of the embedded demo
    model per mode, and how far each video is from the resident one."""
    device = torch.device(plan.device)
    frames, size, steps = plan.e2e["frames"], plan.e2e["size"], plan.e2e["steps"]
    settings = default_clip_settings("1.2", image_size=tuple(size), num_frames=frames)
    rows, reference = [], None
    for mode in END_TO_END_MODES:
        offload = device if mode == "resident" else "cpu"
        placement = Placement.create(device, "fp32", offload_device=offload)
        models = load_embedded_models(placement, num_sampling_steps=steps)
        setup = apply_mode(models, mode, device)
        with PeakMemory(device) as peak:
            times, video = generation_seconds(models, settings, [DEMO_PROMPT], plan.runs)
        video = video.float().cpu()
        reference = video if reference is None else reference
        rows.append({
            "mode": mode, "setup": setup, "video_s": statistics.median(times),
            "peak_mib": peak.mib,
            # the cache counts over its life: the warm-up and the timed runs
            "transformer_calls": models.step_cache.computed / (plan.runs + 1),
            "max_abs_diff": (video - reference).abs().max().item(),
            "psnr_db": psnr(video, reference),
        })  # fmt: skip
    return rows


# --- the table ------------------------------------------------------------------------------
def machine(plan: Plan) -> str:
    """The machine in words."""
    device = torch.device(plan.device)
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        what = f"{cpu_model()} ({os.cpu_count()} cores)"
    return f"{what}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"


def cpu_model() -> str:
    """The CPU's model name (Linux), else the architecture."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return f"{platform.machine()} CPU"


SECTIONS = {  # name: (function, [(key, header, format)])
    "transformer step": (transformer_rows, [
        ("shape", "shape", "{}"), ("latent", "latent T x H x W", "{}"), ("depth", "depth", "{}"),
        ("batch", "batch", "{}"), ("step_s", "forward s", "{:.3f}"),
        ("weights_mib", "weights MiB", "{:.0f}"), ("peak_mib", "peak MiB", "{:.0f}"),
        ("tflop", "TFLOP", "{:.3f}"), ("achieved_tflops", "TFLOP/s", "{:.4f}"),
        ("matmul_tflops", "matmul TFLOP/s", "{:.4f}"), ("of_matmul", "of matmul rate", "{:.0%}"),
    ]),
    "VAE decode": (vae_rows, [
        ("video", "video", "{}"), ("tiling", "tiling", "{}"), ("decode_s", "decode s", "{:.3f}"),
        ("peak_mib", "peak MiB", "{:.0f}"), ("estimate_mib", "estimate MiB", "{:.0f}"),
    ]),
    "T5 memory": (t5_rows, [
        ("mode", "mode", "{}"), ("width", "width", "{}"), ("layers", "layers", "{}"),
        ("weights_mib", "weights MiB", "{:.0f}"), ("peak_mib", "encode peak MiB", "{:.0f}"),
        ("encode_s", "encode s", "{:.3f}"), ("xxl_weights_gib", "XXL (24 layers) weights GiB",
                                             "{:.2f}"),
    ]),
    "end to end": (end_to_end_rows, [
        ("mode", "mode", "{}"), ("setup", "setup", "{}"), ("video_s", "s per video", "{:.2f}"),
        ("peak_mib", "peak MiB", "{:.0f}"), ("transformer_calls", "transformer calls", "{:.1f}"),
        ("max_abs_diff", "max diff vs resident", "{:.1e}"), ("psnr_db", "PSNR dB", "{:.1f}"),
    ]),
}  # fmt: skip


def notes(plan: Plan) -> "dict[str, str]":
    """What each section's figures are."""
    device = torch.device(plan.device)
    full = forward_flops(1, PRESETS["480p"], 1152, 28, CAPTION_TOKENS) / 1e12
    e2e = plan.e2e
    return {
        "transformer step": (
            f"STDiT3 {plan.hidden} wide, {plan.heads} heads, depth {plan.depth} (block pairs), "
            f"random weights, {plan.dtype}, {CAPTION_TOKENS} caption tokens, batch "
            f"{plan.batch}; median of {plan.runs} after {plan.warmup} warm-up. FLOPs counted "
            f"analytically (`bench_stdit.forward_flops`; at full depth 480p/51 frames: "
            f"{full:.2f} TFLOP per sample, spec 56.5); matmul rate: {plan.matmul_size}^2 "
            f"{plan.dtype} matmul."
        ),
        "VAE decode": "Open-Sora 1.2 VAE, random weights, `bench_vae.py` (a fresh process "
        "per row; peak = the first decode's).",
        "T5 memory": (
            f"Random-weight T5 encoder (`text_encoder_memory.random_t5`), one {CAPTION_TOKENS}-"
            "token prompt; the last column is T5-v1.1-XXL's weights in that mode, counted."
        ),
        "end to end": (
            f"Embedded demo model, {e2e['frames']} frames at {e2e['size'][0]}x{e2e['size'][1]}, "
            f"{e2e['steps']} rflow steps with CFG, prompt encoding + sampling + decoding, "
            f"median of {plan.runs} after a warm-up."
            + (
                " On a CPU the weights already rest in CPU memory: lowvram and block swap only "
                "add the copies of streamed blocks."
                if device.type == "cpu"
                else ""
            )
        ),
        "memory": f"Peak memory: {method(device)}.",
    }


def markdown(plan: Plan, results: dict) -> str:
    """The results as markdown tables under one heading per section."""
    lines = [f"Machine: {machine(plan)}.", "", notes(plan)["memory"], ""]
    for name, rows in results.items():
        columns = SECTIONS[name][1]
        lines += [f"**{name}**. {notes(plan)[name]}", ""]
        lines.append("| " + " | ".join(header for _, header, _ in columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in rows:
            lines.append("| " + " | ".join(fmt.format(row[key]) for key, _, fmt in columns) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: "list[str] | None" = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="toy sizes: a smoke test")
    parser.add_argument("--runs", type=int, help="timed runs per figure (median)")
    parser.add_argument("--sections", nargs="+", choices=sorted(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), help="shapes to step")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="also write the plan and results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = plan_for(torch.device(args.device), args.quick)
    if args.runs:
        plan.runs = args.runs
    if args.presets:
        plan.latents = {name: plan.latents[name] for name in args.presets}
    results = {}
    for name in args.sections:
        started = time.perf_counter()
        results[name] = SECTIONS[name][0](plan)
        print(f"[{name}: {time.perf_counter() - started:.0f} s]", file=sys.stderr)
    print(markdown(plan, results))
    if args.json:
        record = {"machine": machine(plan), "plan": asdict(plan), "results": results}
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
