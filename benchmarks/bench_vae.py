"""Decode time and peak memory of the Open-Sora VAEs, untiled and on exact tiles.

Each configuration runs in a fresh subprocess so peak memory is its own: on CUDA the
allocator's peak over the decode, on the CPU the rise of the process's resident-set
high-water mark during the decode. Weights are random (speed and memory do not depend on
them) unless --checkpoint is given.

Examples:
  python benchmarks/bench_vae.py --frames 17 --height 256 --width 256 --tile-sizes 16 8
  python benchmarks/bench_vae.py --size release --device cuda --dtype bf16 \\
      --frames 51 --height 720 --width 1280 --tile-sizes 64 32 --memory-budget 8e9
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from peak_memory import PeakMemory  # noqa: E402

from sora_core.checkpoints import build_vae, load_vae  # noqa: E402
from sora_core.dtypes import resolve_dtype  # noqa: E402

TINY_AUTOENCODER = {
    "block_out_channels": [16, 32, 64, 64],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "norm_num_groups": 8,
}
TINY_TEMPORAL = {"type": "VAE_Temporal_SD", "filters": 16, "num_groups": 8}


def model_config(model: str, size: str) -> dict:
    """The config dict of the benchmarked VAE (release widths or tiny widths)."""
    if model == "sd":
        config = {"type": "VideoAutoencoderKL", "micro_batch_size": 4}
        return config if size == "release" else {**config, "autoencoder": TINY_AUTOENCODER}
    if size == "release":
        return {"type": "OpenSoraVAE_V1_2", "micro_frame_size": 17, "micro_batch_size": 4}
    return {
        "type": "VideoAutoencoderPipeline",
        "vae_2d": {
            "type": "VideoAutoencoderKL",
            "micro_batch_size": 4,
            "autoencoder": TINY_AUTOENCODER,
        },
        "vae_temporal": TINY_TEMPORAL,
        "micro_frame_size": 17,
    }


def run_single(args, tiling: dict) -> dict:
    """Peak memory of a first decode, then the median time of `repeats` more."""
    device, dtype = torch.device(args.device), resolve_dtype(args.dtype)
    if args.checkpoint:
        vae = load_vae(args.checkpoint, dtype=dtype, device=args.device)
    else:
        vae = build_vae(model_config(args.model, args.size)).to(device, dtype)
    if tiling.get("budget"):
        chosen = vae.auto_tiling(args.height, args.width, int(tiling["budget"]))
        tiling["chosen_tile_size"] = chosen.tile_size if chosen else None
    else:
        vae.set_tiling(tiling.get("tile_size"))
    frames_latent, h, w = vae.get_latent_size([args.frames, args.height, args.width])
    z = torch.randn(1, vae.out_channels, frames_latent, h, w, device=device, dtype=dtype)
    times = []
    with torch.inference_mode():
        # Peak memory of the first decode, best from a fresh process: later decodes on the
        # CPU reuse memory the allocator keeps, which would hide their peak.
        held = torch.cuda.memory_allocated() if device.type == "cuda" else 0
        with PeakMemory(device) as first:
            vae.decode(z, num_frames=args.frames)
        peak = first.bytes - held  # what the decode added to the weights and latent
        for _ in range(args.repeats):
            start = time.perf_counter()
            vae.decode(z, num_frames=args.frames)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    estimate = vae.estimate_decode_bytes(
        h, w, tile_size=vae.tiling.tile_size if vae.tiling else None
    )
    return {
        **tiling,
        "median_s": statistics.median(times),
        "runs": len(times),
        "peak_bytes": peak,
        "estimate_bytes": estimate,
    }


def parse(argv: "list[str] | None" = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["v1.2", "sd"], default="v1.2")
    parser.add_argument(
        "--size",
        choices=["tiny", "release"],
        default="tiny",
        help="tiny widths (CPU) or the released architecture",
    )
    parser.add_argument("--checkpoint", help="load real weights from this path instead")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument(
        "--tile-sizes",
        type=int,
        nargs="*",
        default=[16],
        help="tile sizes in latent cells to compare with the untiled decode",
    )
    parser.add_argument(
        "--memory-budget",
        type=float,
        default=None,
        help="also run the automatic tiling for this many bytes",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def measure_tilings(argv: "list[str]", fresh_processes: bool = True) -> "list[dict]":
    """Run the untiled decode and each tiling of the command line `argv`, each in a fresh
    process (or, quicker, in this one); one result dict per tiling."""
    args = parse(argv)
    configs = [{"tile_size": None}] + [{"tile_size": size} for size in args.tile_sizes]
    if args.memory_budget:
        configs.append({"budget": args.memory_budget})
    results = []
    for tiling in configs:
        if not fresh_processes:
            results.append(run_single(args, tiling))
            continue
        command = [sys.executable, __file__, *argv, "--single", json.dumps(tiling)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    return results


def tiling_name(row: dict) -> str:
    """A result's tiling in words."""
    if row.get("budget"):
        return f"auto {row['budget'] / 2**20:.0f} MiB -> {row['chosen_tile_size']}"
    if row["tile_size"]:
        return f"exact tiles of {row['tile_size']} cells"
    return "untiled"


def main() -> None:
    """Parse arguments, run each tiling in its own process, print a table (and JSON)."""
    args = parse()
    if args.single:
        print(json.dumps(run_single(args, json.loads(args.single))))
        return
    results = measure_tilings(sys.argv[1:])
    print(
        f"{args.model} ({args.size}) decode {args.frames}x{args.height}x{args.width} "
        f"on {args.device} {args.dtype}, median of {args.repeats}"
    )
    print(f"{'tiling':<28}{'time s':>10}{'peak MiB':>12}{'estimate MiB':>14}")
    for row in results:
        print(
            f"{tiling_name(row):<28}{row['median_s']:>10.3f}{row['peak_bytes'] / 2**20:>12.1f}"
            f"{row['estimate_bytes'] / 2**20:>14.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
