"""`python -m sora_core.selfcheck`: prove the installation can run the pipeline's pieces.

It checks what a generation needs besides model weights: torch and the libraries the
models use import, a small tensor computation runs on the chosen device, and an H.264
MP4 can be written and read back with `av`.
"""

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

REQUIRED_MODULES = (
    "torch",
    "transformers",
    "diffusers",
    "einops",
    "safetensors",
    "av",
    "sentencepiece",
    "numpy",
    "tqdm",
    "yaml",
    "PIL",
)


def check_imports() -> dict[str, str]:
    """Import every runtime dependency and return its version."""
    versions = {}
    for name in REQUIRED_MODULES:
        module = importlib.import_module(name)
        versions[name] = getattr(module, "__version__", "unknown")
    return versions


def check_compute(device: str) -> float:
    """Run a small attention computation on `device` and return its wall time in seconds."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(0)
    q, k, v = (torch.randn(2, 4, 64, 32, generator=generator).to(device) for _ in range(3))
    start = time.perf_counter()
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    if not torch.isfinite(out).all():
        raise RuntimeError(f"attention on {device} produced non-finite values")
    return time.perf_counter() - start


def check_video_io(directory: Path, frames: int = 8, size: int = 64, fps: int = 8) -> Path:
    """Write a short H.264 MP4 with `av`, read it back, and check its frame count and size."""
    import av
    import numpy as np

    path = directory / "selfcheck.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            image = np.full((size, size, 3), index * 255 // max(frames - 1, 1), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if len(decoded) != frames or decoded[0].shape != (size, size, 3):
        raise RuntimeError(f"video round trip gave {len(decoded)} frames of {decoded[0].shape}")
    return path


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default=None, help="cuda, cpu, mps (default: cuda when present)"
    )
    args = parser.parse_args(argv)

    print(
        "comfyui-opensora self-check: what a generation needs besides model weights "
        "(`opensora-generate` makes a video)"
    )
    versions = check_imports()
    print("  imports  : " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"  compute  : attention on {device} in {check_compute(device) * 1000:.1f} ms")
    with tempfile.TemporaryDirectory() as directory:
        check_video_io(Path(directory))
    print("  video io : H.264 MP4 written and read back with av")
    print("self-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
