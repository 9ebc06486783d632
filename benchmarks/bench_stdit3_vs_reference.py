"""Forward time of our STDiT3 against the reference's own (Open-Sora v1.2.0), same weights.

    git archive v1.2.0 opensora | tar x -C /tmp/opensora-v1.2.0   # in a clone; never commit
    OMP_NUM_THREADS=1 python benchmarks/bench_stdit3_vs_reference.py --reference /tmp/opensora-v1.2.0

Both models are built at XL/2 width with the given depth, our model loads the reference's
state dict, the outputs are compared, then forwards alternate (ours, reference, ours, ...) in
one process so that load on a shared machine hits both alike; medians and their ratio are
printed, with the median time of the forward's linear layers alone (the same products on
random inputs): no implementation calling the same BLAS gets under it. The reference runs
its CPU path: math self-attention, xformers' packed cross-attention through a
one-SDPA-per-sample stand-in (see `reference_stdit3.py`).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from benchmarks.reference_stdit3 import reference_stdit3  # noqa: E402
from benchmarks.stdit3_forward import print_result, stdit3, stdit3_inputs  # noqa: E402


def timed(model, inputs: dict) -> "tuple[float, torch.Tensor]":
    started = time.perf_counter()
    out = model(**inputs)
    return time.perf_counter() - started, out


def linear_calls(model, inputs: dict) -> list:
    """(input, weight, bias) of every linear layer one forward runs, with random inputs."""
    calls = []

    def record(module, args, _output):
        calls.append((torch.randn(args[0].shape), module.weight, module.bias))

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    handles = [m.register_forward_hook(record) for m in linears]
    model(**inputs)
    for handle in handles:
        handle.remove()
    return calls


def timed_linears(calls: list) -> "tuple[float, None]":
    """The same matrix products alone: the floor any implementation with this BLAS meets."""
    started = time.perf_counter()
    for x, weight, bias in calls:
        torch.nn.functional.linear(x, weight, bias)
    return time.perf_counter() - started, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="extracted Open-Sora v1.2.0 tree")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--latent", type=int, nargs=3, default=(5, 16, 24), metavar=("T", "H", "W"))
    parser.add_argument(
        "--caption-tokens", type=int, default=300, help="valid tokens of the 300 (the rest padding)"
    )
    parser.add_argument("--runs", type=int, default=7, help="timed forwards of each model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ours = stdit3(args.depth)
    torch.manual_seed(0)
    reference = reference_stdit3(
        args.reference, depth=args.depth, hidden_size=1152, num_heads=16, patch_size=(1, 2, 2)
    )
    ours.load_state_dict(reference.state_dict(), strict=False)
    inputs = stdit3_inputs(tuple(args.latent), torch.device("cpu"))
    inputs["mask"][:, args.caption_tokens :] = 0

    ours_times, reference_times, linear_times = [], [], []
    with torch.inference_mode():
        _, expected = timed(reference, inputs)  # warm-up and the values to match
        _, got = timed(ours, inputs)
        max_abs = (got - expected).abs().max().item()
        scale = expected.abs().max().item()
        calls = linear_calls(ours, inputs)
        for _ in range(args.runs):
            ours_times.append(timed(ours, inputs)[0])
            reference_times.append(timed(reference, inputs)[0])
            linear_times.append(timed_linears(calls)[0])
    ours_s, reference_s = statistics.median(ours_times), statistics.median(reference_times)
    linear_s = statistics.median(linear_times)
    result = {
        "threads": torch.get_num_threads(),
        "latent": [2, 4, *args.latent],
        "depth": args.depth,
        "caption_tokens": args.caption_tokens,
        "runs": args.runs,
        "ours_median_s": round(ours_s, 4),
        "reference_median_s": round(reference_s, 4),
        "ratio": round(ours_s / reference_s, 3),
        "linear_layers_median_s": round(linear_s, 4),
        "linear_layers_over_reference": round(linear_s / reference_s, 3),
        "max_abs_diff": max_abs,
        "output_max_abs": scale,
        "ours_s": [round(t, 4) for t in ours_times],
        "reference_s": [round(t, 4) for t in reference_times],
    }
    print_result(result, args.json)


if __name__ == "__main__":
    main()
