"""Memory of the T5 text encoder per loading mode, and encode time of a given model.

Prints the weight memory of T5-v1.1-XXL (DeepFloyd/t5-v1_1-xxl, Open-Sora's encoder) in
each mode, computed from its parameter count on the meta device (nothing is allocated),
then, for `--model` (default: the fixtures' tiny T5), the peak resident memory of loading
it and the median encode time of `--prompts` prompts in each mode.

    python benchmarks/text_encoder_memory.py --model /models/t5-v1_1-xxl --length 300
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = {  # name: (weight dtype, compute dtype)
    "fp32": ("fp32", "fp32"),
    "bf16": ("bf16", "bf16"),
    "fp16 weights, bf16 compute": ("fp16", "bf16"),
    "fp8 weights, bf16 compute": ("fp8", "bf16"),
}
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}


def parameter_counts(config: dict) -> "tuple[int, int]":
    """(all parameters, those in linear layers) of a T5 encoder of `config`, counted on the
    meta device (nothing is allocated)."""
    import torch
    from transformers import T5Config, T5EncoderModel

    with torch.device("meta"):
        model = T5EncoderModel(T5Config(**config, is_encoder_decoder=False))
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    return sum(p.numel() for p in model.parameters()), linear


def weight_bytes(config: dict, mode: str) -> int:
    """Weight bytes of a T5 encoder of `config` loaded in `mode` (one of MODES): linear
    weights in the weight dtype, embeddings and norms in the compute dtype."""
    total, linear = parameter_counts(config)
    weights, compute = MODES[mode]
    return linear * BYTES[weights] + (total - linear) * BYTES[compute]


def random_t5(config: dict, mode: str, seed: int = 0):
    """A seeded random-weight T5 encoder of `config` in `mode`, built the way
    `load_text_encoder` builds one from a file (cast-on-use layers)."""
    import torch
    from transformers import T5Config, T5EncoderModel

    from sora_core.dtypes import resolve_dtype
    from sora_core.text.t5_model import TIED_EMBEDDING_KEY, build_t5_encoder

    with torch.device("meta"):
        shapes = T5EncoderModel(T5Config(**config, is_encoder_decoder=False)).state_dict()
    generator = torch.Generator().manual_seed(seed)
    state_dict = {
        key: torch.randn(tensor.shape, generator=generator) * 0.02
        for key, tensor in shapes.items()
        if key != TIED_EMBEDDING_KEY
    }
    weights, compute = MODES[mode]
    return build_t5_encoder(state_dict, config, resolve_dtype(weights), resolve_dtype(compute))


def xxl_weight_memory() -> None:
    """Weight bytes of T5-v1.1-XXL's encoder per mode (linear layers in the weight dtype)."""
    from sora_core.text.t5_model import T5_V1_1_XXL

    total, linear = parameter_counts(T5_V1_1_XXL)
    print(
        f"T5-v1.1-XXL encoder: {total / 1e9:.3f} B parameters ({linear / 1e9:.3f} B in linear layers)"
    )
    for name in MODES:
        size = weight_bytes(T5_V1_1_XXL, name)
        print(f"  {name:28s} {size / 2**30:6.2f} GiB of weights")


def measure(model: str, tokenizer: "str | None", mode: str, length: int, prompts: int) -> None:
    """Load `model` in `mode` in this process; print peak RSS and median encode time."""
    import torch

    from sora_core.checkpoints import load_text_encoder

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    weights, compute = MODES[mode]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    encoder = load_text_encoder(
        model,
        tokenizer=tokenizer,
        dtype=weights,
        compute_dtype=compute,
        model_max_length=length,
        cache_size=0,
    )
    load_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    texts = [f"a drone shot of waterfall number {i} at sunrise, cinematic" for i in range(prompts)]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        encoder.encode(texts)
        times.append(time.perf_counter() - start)
    print(
        f"  {mode:28s} load {load_s:6.2f} s, peak RSS +{(peak - before) / 1024:7.1f} MiB "
        f"(total {peak / 1024:7.1f} MiB), encode {len(texts)} x L={length}: "
        f"median {statistics.median(times) * 1000:8.1f} ms"
    )


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    default_model = (
        Path(os.environ.get("SORA_FIXTURES_DIR", root.parent / "shared" / "fixtures"))
        / "text"
        / "tiny_t5"
    )
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(default_model), help="T5 folder or single file")
    parser.add_argument("--tokenizer", default=None, help="spiece.model / tokenizer.json / folder")
    parser.add_argument("--length", type=int, default=300, help="model_max_length (1.2: 300)")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per encode call")
    parser.add_argument("--mode", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        measure(args.model, args.tokenizer, args.mode, args.length, args.prompts)
        return
    xxl_weight_memory()
    print(f"{args.model}:")
    for mode in MODES:  # one fresh process per mode, so peak RSS is that mode's own
        command = [sys.executable, __file__, "--mode", mode, "--model", args.model]
        command += ["--length", str(args.length), "--prompts", str(args.prompts)]
        if args.tokenizer:
            command += ["--tokenizer", args.tokenizer]
        subprocess.run(command, check=True, cwd=root)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
