"""Peak memory and step time of one training run per fine-tuning mode: full fine-tune, LoRA
on an fp32 base, LoRA on a bf16 base, LoRA on an fp8 base.

Each mode is a fresh `opensora-train` process (so its peak RAM, or peak CUDA memory, is its
own) on a feature cache (`opensora-extract-features`), for `--steps` steps of an STDiT3 of
the given width and depth; the figure is the trainer's `peak_memory_mb` of the last step.

    python benchmarks/bench_train_memory.py FEATURES --hidden 576 --depth 8 --steps 3
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MODES = {
    "full fine-tune": {},
    "LoRA, fp32 base": {"lora": {"rank": 16, "alpha": 16, "targets": ["attn", "mlp"]}},
    "LoRA, bf16 base": {
        "lora": {"rank": 16, "alpha": 16, "targets": ["attn", "mlp"]},
        "base_dtype": "bf16",
    },
    "LoRA, fp8 base": {
        "lora": {"rank": 16, "alpha": 16, "targets": ["attn", "mlp"]},
        "base_dtype": "fp8",
    },
}


def run(features: Path, mode: dict, args, folder: Path) -> dict:
    config = {
        "dataset": {"type": "BatchFeatureDataset", "data_path": str(features)},
        "model": {
            "type": "STDiT3",
            "hidden_size": args.hidden,
            "depth": args.depth,
            "num_heads": args.heads,
            "qk_norm": True,
        },
        "scheduler": {"type": "rflow", "use_timestep_transform": False},
        "dtype": "fp32",
        "plugin": "ddp",
        "num_workers": 0,
        "seed": 0,
        "epochs": 1,
        "max_steps": args.steps,
        "log_every": 1,
        "lr": 1e-4,
        "wandb": False,
        **mode,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "sora_core.cli.train", str(path), "--outputs", str(folder)],
        check=True,
        cwd=root,
        capture_output=True,
    )
    (log,) = folder.glob("*/log.jsonl")
    last = json.loads(log.read_text().splitlines()[-1])
    return {"peak_mb": last["peak_memory_mb"], "step_s": last["step_time"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features", type=Path, help="an opensora-extract-features cache")
    parser.add_argument("--hidden", type=int, default=576)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(f"STDiT3 hidden {args.hidden}, depth {args.depth}; {args.steps} steps per mode")
    print("| mode | peak memory (MiB) | last step (s) |\n|---|---|---|")
    for name, mode in MODES.items():
        with tempfile.TemporaryDirectory() as folder:
            result = run(args.features.resolve(), mode, args, Path(folder))
        print(f"| {name} | {result['peak_mb']:.0f} | {result['step_s']:.2f} |")


if __name__ == "__main__":
    main()
