"""Time the conditioning path on CPU: reference loading, transforms, mask application.

Run from the project root (PYTHONPATH=. unless the package is installed):
    python benchmarks/conditioning.py [--resolution 720p] [--aspect-ratio 9:16] [--runs 5]
Prints the median wall time of each step over --runs repetitions.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from sora_core.conditioning import apply_mask_strategy, load_reference
from sora_core.geometry import get_image_size, get_num_frames, latent_size


def _median_seconds(step, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Parse options, time each step, print one line per step."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolution", default="720p", help="named resolution (default 720p)")
    parser.add_argument("--aspect-ratio", default="9:16", help="H:W ratio (default 9:16)")
    parser.add_argument(
        "--num-frames", default="2s", help="frames or a duration name (default 2s = 51)"
    )
    parser.add_argument("--runs", type=int, default=5, help="repetitions per step (default 5)")
    options = parser.parse_args()

    image_size = get_image_size(options.resolution, options.aspect_ratio)
    num_frames = get_num_frames(options.num_frames)
    source = torch.rand(num_frames, 1080, 1920, 3)
    latent = latent_size([num_frames, *image_size])
    z = torch.randn(1, 4, *latent)
    references = [[torch.randn(4, 1, *latent[1:]), torch.randn(4, latent[0], *latent[1:])]]

    with tempfile.TemporaryDirectory() as folder:
        png = Path(folder) / "reference.png"
        Image.fromarray((source[0].numpy() * 255).astype("uint8")).save(png)
        steps = {
            f"image file 1920x1080 -> {image_size} (PIL bicubic)": lambda: load_reference(
                png, image_size
            ),
            f"IMAGE frames {num_frames}x1080x1920 -> {image_size} (bilinear)": lambda: (
                load_reference(source, image_size)
            ),
            f"apply '0;0,1,0,-5,5' on latent {list(z.shape)}": lambda: apply_mask_strategy(
                z.clone(), references, ["0;0,1,0,-5,5"], align=5
            ),
        }
        print(
            f"torch {torch.__version__}, threads {torch.get_num_threads()}, median of {options.runs}"
        )
        for name, step in steps.items():
            print(f"{_median_seconds(step, options.runs) * 1000:9.1f} ms  {name}")


if __name__ == "__main__":
    main()
