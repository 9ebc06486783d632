"""What the acceleration benchmarks share: a random STDiT3 of XL/2 width, its inputs, and
the median time of its forward."""

import json
import statistics
import time

import torch

from sora_core.checkpoints import build_model


def stdit3(depth: int, hidden: int = 1152, heads: int = 16) -> torch.nn.Module:
    """A seeded random STDiT3 in eval mode (300-token T5 captions)."""
    torch.manual_seed(0)
    config = {"type": "STDiT3", "depth": depth, "hidden_size": hidden, "num_heads": heads}
    return build_model(config).eval()


def stdit3_inputs(latent_thw, device: torch.device) -> dict:
    """A batch of 2 latents `[2, 4, T, H, W]` with full 300-token captions, on `device`."""
    g = torch.Generator().manual_seed(1)
    return {
        "x": torch.randn(2, 4, *latent_thw, generator=g).to(device),
        "timestep": torch.tensor([700.0, 700.0], device=device),
        "y": torch.randn(2, 1, 300, 4096, generator=g).to(device),
        "mask": torch.ones(2, 300, dtype=torch.long, device=device),
        "height": torch.tensor([latent_thw[1] * 8.0], device=device),
        "width": torch.tensor([latent_thw[2] * 8.0], device=device),
        "fps": torch.tensor([24.0], device=device),
    }


def median_forward(model, kwargs: dict, device: torch.device, runs: int, warmup: int = 1):
    """(median seconds of `runs` forwards after `warmup` untimed ones, the last output)."""
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            out = model(**kwargs)
        for _ in range(runs):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            out = model(**kwargs)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - started)
    return statistics.median(times), out


def print_result(result: dict, as_json: bool) -> None:
    """One JSON line, or one aligned `key: value` line per entry."""
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
