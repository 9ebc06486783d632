"""Time `opensora-generate --help` and a wrong flag, each in a fresh interpreter.

Both answer from the argument parser before torch, the models or the pipeline are imported.

    python benchmarks/bench_cli_help.py --repeats 5
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {"--help": ["--help"], "wrong flag": ["--frames", "3"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose sora_core runs")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.root)}
    for name, argv in CASES.items():
        code = f"import sys; from sora_core.cli import generate_main; sys.exit(generate_main({argv!r}))"
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", code],
                cwd=args.root,
                env=env,
                capture_output=True,
                check=False,
            )
            times.append(time.perf_counter() - started)
        print(
            f"{name}: median {statistics.median(times):.2f} s over {args.repeats} runs "
            f"(min {min(times):.2f} s, max {max(times):.2f} s)"
        )


if __name__ == "__main__":
    main()
