"""The command-line tools: console scripts `opensora-generate` and `opensora-train`, and
the reading of Open-Sora's config files and flags they share."""

import sys

from ..errors import SoraError


def generate_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-generate` (Open-Sora's inference script)."""
    from .generate_config import PROGRAM, resolve_generate_config

    try:
        # Flags first, with nothing heavy imported: `--help` and a wrong flag answer at once.
        config, flags = resolve_generate_config(argv)
        from .generate import generate  # torch, the models, the pipeline

        return generate(config, flags)
    except SoraError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130


def train_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-train` (Open-Sora's training script)."""
    print(
        "opensora-train: training is not yet available in this version of comfyui-opensora. "
        "Run `python -m sora_core.selfcheck` to check the installation.",
        file=sys.stderr,
    )
    return 2
