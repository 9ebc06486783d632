"""The command-line tools: console scripts `opensora-generate`, `opensora-train`,
`opensora-extract-features` and `opensora-search-bs`, and the reading of Open-Sora's
config files and flags they share."""

from .entry import run_command


def generate_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-generate` (Open-Sora's inference script)."""
    from .generate import PROGRAM, generate

    return run_command(PROGRAM, generate, argv)


def train_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-train` (Open-Sora's training script)."""
    from .train import PROGRAM, train

    return run_command(PROGRAM, train, argv)


def search_bs_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-search-bs` (Open-Sora's `scripts/misc/search_bs.py`)."""
    from .search_bs import PROGRAM, search_bs

    return run_command(PROGRAM, search_bs, argv)


def extract_features_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-extract-features` (Open-Sora's `extract_feat.py`)."""
    from .extract_features import PROGRAM, extract

    return run_command(PROGRAM, extract, argv)
