"""Console scripts `opensora-generate` and `opensora-train`."""

import sys


def _not_yet(command: str, what: str) -> int:
    print(
        f"{command}: {what} is not yet available in this version of comfyui-opensora. "
        "Run `python -m sora_core.selfcheck` to check the installation.",
        file=sys.stderr,
    )
    return 2


def generate_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-generate` (Open-Sora's inference script)."""
    return _not_yet("opensora-generate", "video generation")


def train_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-train` (Open-Sora's training script)."""
    return _not_yet("opensora-train", "training")
