"""The command-line tools: console scripts `opensora-generate`, `opensora-train`,
`opensora-extract-features` and `opensora-search-bs`, and the reading of Open-Sora's config files and flags they share."""

import sys

from ..errors import SoraError


def _run(program: str, command, argv: "list[str] | None") -> int:
    """Run a command; our errors become one line and exit status 2, Ctrl-C status 130."""
    try:
        return command(argv)
    except SoraError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130


def generate_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-generate` (Open-Sora's inference script)."""
    from .generate import PROGRAM, generate

    return _run(PROGRAM, generate, argv)


def train_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-train` (Open-Sora's training script)."""
    print(
        "opensora-train: training is not yet available in this version of comfyui-opensora. "
        "Run `python -m sora_core.selfcheck` to check the installation.",
        file=sys.stderr,
    )
    return 2


def search_bs_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-search-bs` (Open-Sora's `scripts/misc/search_bs.py`)."""
    from .search_bs import PROGRAM, search_bs

    return _run(PROGRAM, search_bs, argv)


def extract_features_main(argv: "list[str] | None" = None) -> int:
    """Entry point of `opensora-extract-features` (Open-Sora's `extract_feat.py`)."""
    from .extract_features import PROGRAM, extract

    return _run(PROGRAM, extract, argv)
