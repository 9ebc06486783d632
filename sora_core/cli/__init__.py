"""The command-line tools: console scripts `opensora-generate` and `opensora-train`, and
the reading of Open-Sora's config files and flags they share."""

from .entry import run_command


def generate_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-generate` (Open-Sora's inference script)."""
    from .generate import PROGRAM, generate

    return run_command(PROGRAM, generate, argv)


def train_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-train` (Open-Sora's training script)."""
    from .train import PROGRAM, train

    return run_command(PROGRAM, train, argv)
