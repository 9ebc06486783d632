"""Block swap: forward time and peak memory of an STDiT3 with K blocks resident and the rest
streamed, against the resident model (median of runs).

On CUDA the streamed blocks rest in pinned CPU memory and are prefetched on a side stream;
peak memory is the GPU's `max_memory_allocated`. On a CPU there is nothing to save (the
"device" is CPU memory): the run then measures what the streaming costs (one copy of every
streamed block per forward) and reports the process's peak RSS, which is not the point of
the feature. Weights are random; sizes are given on the command line.

    python benchmarks/bench_block_swap.py --depth 4 --hidden 1152 --latent 5 16 24 --resident 0 4 8
"""

import argparse
import resource
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from stdit3_forward import median_forward, stdit3, stdit3_inputs  # noqa: E402

from sora_core.acceleration import BlockSwap  # noqa: E402


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=1152)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--latent", type=int, nargs=3, default=(5, 16, 24), metavar=("T", "H", "W"))
    parser.add_argument("--resident", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args()


def peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(model, kwargs, device, runs) -> "tuple[float, float, torch.Tensor]":
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds, out = median_forward(model, kwargs, device, runs)
    return seconds, peak_bytes(device) / 2**30, out


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = stdit3(args.depth, args.hidden, args.heads).to(device)
    kwargs = stdit3_inputs(args.latent, device)
    blocks = 2 * args.depth
    print(f"STDiT3 hidden {args.hidden} depth {args.depth} ({blocks} blocks), latent "
          f"2x4x{'x'.join(map(str, args.latent))}, 300-token captions, fp32, {device}, "
          f"{args.threads} thread(s), median of {args.runs}")  # fmt: skip
    print("| blocks on device | forward s | vs resident | peak GiB | output |")
    print("|---|---|---|---|---|")
    base, peak, expected = measure(model, kwargs, device, args.runs)
    print(f"| all {blocks} (no swap) | {base:.3f} | 1.00x | {peak:.2f} | reference |")
    for resident in args.resident:
        swap = BlockSwap.install(model, resident, device)
        seconds, peak, out = measure(model, kwargs, device, args.runs)
        same = (
            "identical"
            if torch.equal(out, expected)
            else f"max diff {(out - expected).abs().max():.1e}"
        )
        print(f"| {swap.resident} | {seconds:.3f} | {seconds / base:.2f}x | {peak:.2f} | {same} |")
        swap.place(device)
        model.block_swap = None
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.data = tensor.data.to(device)


if __name__ == "__main__":
    main()
