"""Sequence parallelism: one STDiT3 forward on 1 process against N processes (torchrun,
gloo on the CPU, NCCL on CUDA), median of runs, with the largest difference of outputs.

Run it plainly; it starts the N processes itself through `torch.distributed.run`:

    python benchmarks/bench_sequence_parallel.py --processes 2 --depth 1 --latent 5 16 24

Each process computes with `--threads` threads (on a CPU give every process its own
cores, or the comparison only shows the exchange overhead). Weights are random.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from stdit3_forward import median_forward, stdit3, stdit3_inputs  # noqa: E402

from sora_core.acceleration.sequence_parallel import from_environment, local_device  # noqa: E402


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=1152)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--latent", type=int, nargs=3, default=(5, 16, 24), metavar=("T", "H", "W"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # result file, set for the ranks
    return parser.parse_args(argv)


def forward_times(args, parallel) -> "tuple[float, torch.Tensor]":
    device = local_device(torch.device(args.device))
    model = stdit3(args.depth, args.hidden, args.heads).to(device)
    if parallel is not None:
        parallel.install(model)
    seconds, out = median_forward(model, stdit3_inputs(args.latent, device), device, args.runs)
    return seconds, out.cpu()


def worker(args) -> None:
    torch.set_num_threads(args.threads)
    parallel = from_environment(torch.device(args.device))
    seconds, out = forward_times(args, parallel)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if parallel.rank == 0:
        torch.save(out, f"{args.worker}.pt")
        Path(args.worker).write_text(json.dumps({"seconds": seconds, "peak_rss_gib": peak}))


def main() -> None:
    args = parse()
    if args.worker:
        return worker(args)
    torch.set_num_threads(args.threads)
    single, expected = forward_times(args, None)
    single_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc_per_node", str(args.processes), __file__, *sys.argv[1:],
                   "--worker", str(result)]  # fmt: skip
        subprocess.run(
            command, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        )
        measured = json.loads(result.read_text())
        difference = (torch.load(f"{result}.pt") - expected).abs().max().item()
    tokens = args.latent[0] * (args.latent[1] // 2) * (args.latent[2] // 2)
    print(f"STDiT3 hidden {args.hidden}, {args.heads} heads, depth {args.depth}, latent "
          f"2x4x{'x'.join(map(str, args.latent))} ({tokens} tokens per sample), fp32, "
          f"{args.device}, {args.threads} thread(s) per process, median of {args.runs}")  # fmt: skip
    print("| processes | forward s | speed-up | peak RSS GiB (rank 0) | max abs diff |")
    print("|---|---|---|---|---|")
    print(f"| 1 | {single:.3f} | 1.00x | {single_peak:.2f} | reference |")
    print(f"| {args.processes} | {measured['seconds']:.3f} | {single / measured['seconds']:.2f}x | "
          f"{measured['peak_rss_gib']:.2f} | {difference:.1e} |")  # fmt: skip


if __name__ == "__main__":
    main()
