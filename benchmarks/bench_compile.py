"""Eager against per-block `torch.compile` (inductor): one STDiT3 forward of XL/2 width.

python benchmarks/bench_compile.py --depth 2 --latent 5 8 8 --repeats 5 --threads 1
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from sora_core.acceleration.compile import compile_blocks  # noqa: E402
from sora_core.checkpoints import build_model  # noqa: E402


def forward_seconds(model, inputs, repeats: int) -> "list[float]":
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            started = time.perf_counter()
            model(**inputs)
            times.append(time.perf_counter() - started)
    return times


def main(argv: "list[str] | None" = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--latent", type=int, nargs=3, default=(5, 8, 8), metavar=("T", "H", "W"))
    parser.add_argument("--text-len", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = {"type": "STDiT3", "hidden_size": 1152, "num_heads": 16, "depth": args.depth}
    model = build_model({**config, "model_max_length": args.text_len}).eval()
    inputs = {
        "x": torch.randn(2, 4, *args.latent),
        "timestep": torch.full((2,), 900.0),
        "y": torch.randn(2, 1, args.text_len, 4096),
        "mask": torch.ones(1, args.text_len, dtype=torch.long),
        "height": torch.tensor([args.latent[1] * 8.0]),
        "width": torch.tensor([args.latent[2] * 8.0]),
        "fps": torch.tensor([24.0]),
    }
    forward_seconds(model, inputs, 1)  # warm-up
    eager = statistics.median(forward_seconds(model, inputs, args.repeats))
    compile_blocks(model)
    started = time.perf_counter()
    forward_seconds(model, inputs, 1)
    compile_time = time.perf_counter() - started
    compiled = statistics.median(forward_seconds(model, inputs, args.repeats))
    print(
        f"cpu, {args.threads} thread(s), STDiT3 1152 wide depth {args.depth}, latent "
        f"{tuple(args.latent)}, CFG batch 2, {args.text_len} caption tokens, fp32: eager "
        f"{eager:.3f} s, compiled {compiled:.3f} s (median of {args.repeats}), speed-up "
        f"{eager / compiled:.2f}x; first compiled call {compile_time:.1f} s"
    )


if __name__ == "__main__":
    main()
