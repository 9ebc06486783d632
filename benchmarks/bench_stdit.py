"""Forward time, peak memory and achieved FLOP/s of STDiT3 (random weights).

Default: XL/2 width (1152, 16 heads) with depth 2 on a small latent, so it runs on a CPU in
seconds. On a GPU: `--depth 28 --preset 240p|480p|720p --dtype bf16 --device cuda`.
The FLOP count follows the spec (§8): linear layers 28·C² per token per block, attention
4·T·S²·C (spatial), 4·S·T²·C (temporal), 4·N·L·C (cross) and the text K/V projection.
"""

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from benchmarks.stdit3_forward import print_result  # noqa: E402
from sora_core.checkpoints import build_model  # noqa: E402
from sora_core.dtypes import resolve_dtype  # noqa: E402

# 51 frames (15 latent frames) at the 9:16 sizes of the 1.2 release.
PRESETS = {"240p": (15, 30, 53), "480p": (15, 60, 106), "720p": (15, 90, 160)}


def forward_flops(batch: int, latent, hidden: int, depth: int, text_len: int) -> float:
    """FLOPs of one forward (multiply-add = 2), after end-padding to the 2x2 patch."""
    frames, rows, cols = latent[0], -(-latent[1] // 2), -(-latent[2] // 2)
    spatial = rows * cols
    tokens = frames * spatial
    blocks = 2 * depth  # spatial + temporal
    linear = 28 * hidden**2 * tokens * blocks
    text_kv = 4 * text_len * hidden**2 * blocks
    spatial_attn = 4 * frames * spatial**2 * hidden * depth
    temporal_attn = 4 * spatial * frames**2 * hidden * depth
    cross = 4 * tokens * text_len * hidden * blocks
    return batch * (linear + text_kv + spatial_attn + temporal_attn + cross)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int, repeats: int = 5) -> float:
    """Measured FLOP/s of a square matmul: the machine's practical ceiling."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # process peak RSS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2, help="pairs of spatial+temporal blocks")
    parser.add_argument("--hidden", type=int, default=1152)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--latent", type=int, nargs=3, default=(4, 16, 16), metavar=("T", "H", "W"))
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="latent of 51 frames at this size"
    )
    parser.add_argument("--batch", type=int, default=2, help="2 = one prompt with CFG")
    parser.add_argument("--text-len", type=int, default=300, help="valid caption tokens")
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backend", default="auto", help="attention: auto, sdpa, flash, math")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--matmul-size", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()

    device, dtype = torch.device(args.device), resolve_dtype(args.dtype)
    latent = PRESETS[args.preset] if args.preset else tuple(args.latent)
    config = {"type": "STDiT3", "hidden_size": args.hidden, "depth": args.depth,
              "num_heads": args.heads, "model_max_length": args.text_len}  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):
        model = build_model(config).to(dtype).eval().set_attention_backend(args.backend)
    inputs = {
        "x": torch.randn(args.batch, 4, *latent, device=device),
        "timestep": torch.full((args.batch,), 900.0, device=device),
        "y": torch.randn(args.batch, 1, args.text_len, 4096, device=device),
        "mask": torch.ones(1, args.text_len, dtype=torch.long, device=device),
        "height": torch.tensor([latent[1] * 8.0], device=device),
        "width": torch.tensor([latent[2] * 8.0], device=device),
        "fps": torch.tensor([24.0], device=device),
    }
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.inference_mode():
        for index in range(args.warmup + args.repeats):
            synchronize(device)
            start = time.perf_counter()
            model(**inputs)
            synchronize(device)
            if index >= args.warmup:
                times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    flops = forward_flops(args.batch, latent, args.hidden, args.depth, args.text_len)
    size = args.matmul_size or (8192 if device.type == "cuda" else 2048)
    ceiling = matmul_rate(device, dtype, size)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "dtype": str(dtype).removeprefix("torch."),
        "latent_thw": list(latent),
        "batch": args.batch,
        "depth": args.depth,
        "hidden": args.hidden,
        "median_forward_s": round(seconds, 4),
        "peak_memory_mib": round(peak_memory_bytes(device) / 2**20, 1),
        "forward_tflop": round(flops / 1e12, 4),
        "achieved_tflops": round(flops / seconds / 1e12, 4),
        "matmul_tflops": round(ceiling / 1e12, 4),
        "fraction_of_matmul": round(flops / seconds / ceiling, 3),
    }
    print_result(result, args.json)


if __name__ == "__main__":
    main()
