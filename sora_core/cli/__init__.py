"""The command-line tools: console scripts `opensora-generate`, `opensora-train`,
`opensora-extract-features` and `opensora-search-bs`, and the reading of Open-Sora's
config files and flags they share."""

from .entry import run_command


def generate_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-generate` (Open-Sora's inference script)."""
    from .generate_config import PROGRAM, resolve_generate_config

    def parse_then_generate(argv: "list[str] | None") -> int:
        # Flags first, with nothing heavy imported: `--help` and a wrong flag answer at once.
        config, flags = resolve_generate_config(argv)
        from .generate import generate  # torch, the models, the pipeline

        return generate(config, flags)

    return run_command(PROGRAM, parse_then_generate, argv)


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
