"""Time the samplers' own work per step (guidance, schedule arithmetic, noise), with a
stand-in model that costs almost nothing, so the figure is the overhead a sampler adds to
every transformer call.

    python benchmarks/bench_samplers.py --latent 1 4 15 30 53 --repeats 5
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

# Run as `python benchmarks/bench_samplers.py` from a checkout, without installing.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sora_core.samplers import GeneratorNoise, TextConditioning, build_scheduler  # noqa: E402

CONFIGS = {
    "rflow": {"type": "rflow", "num_sampling_steps": 30, "cfg_scale": 7.0},
    "rflow-mask": {"type": "rflow", "num_sampling_steps": 30, "cfg_scale": 7.0},
    "iddpm": {"type": "iddpm", "num_sampling_steps": 100, "cfg_scale": 7.0, "cfg_channel": 3},
    "iddpm-mask": {"type": "iddpm", "num_sampling_steps": 100, "cfg_scale": 7.0},
    "dpm-solver": {"type": "dpm-solver", "num_sampling_steps": 20, "cfg_scale": 7.0},
}


def _free_model(x, timestep, y, mask=None, x_mask=None, **_sizes):
    # (N, C, T, H, W) -> (N, 2C, T, H, W): eps = 0.1 x, variance channels 0.
    return torch.cat([0.1 * x, torch.zeros_like(x)], dim=1)


def main() -> None:
    """Print the median milliseconds per sampling step of each sampler."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--latent", type=int, nargs=5, default=[1, 4, 15, 30, 53], metavar=("B", "C", "T", "H", "W")
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--samplers", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    batch, _, frames = args.latent[:3]
    text = TextConditioning(y=torch.randn(batch, 1, 300, 64), y_null=torch.randn(batch, 1, 300, 64))
    sizes = {
        name: torch.full((batch,), value)
        for name, value in (("height", 240.0), ("width", 426.0), ("num_frames", 51.0))
    }
    frame_mask = torch.ones(batch, frames)
    frame_mask[:, 0] = 0.0
    print(f"latent {tuple(args.latent)}, threads {torch.get_num_threads()}")
    for name in args.samplers:
        sampler = build_scheduler(CONFIGS[name])
        times = []
        for repeat in range(args.repeats):
            latent = torch.randn(args.latent)
            start = time.perf_counter()
            with torch.no_grad():
                sampler.sample(
                    _free_model,
                    latent,
                    text,
                    model_kwargs=sizes,
                    frame_mask=frame_mask if name.endswith("-mask") else None,
                    noise=GeneratorNoise(seed=repeat),
                )
            times.append((time.perf_counter() - start) / sampler.num_sampling_steps)
        print(
            f"{name:12s} {sampler.num_sampling_steps:4d} steps  "
            f"median {statistics.median(times) * 1000:7.2f} ms/step  "
            f"(min {min(times) * 1000:.2f}, max {max(times) * 1000:.2f})"
        )


if __name__ == "__main__":
    main()
