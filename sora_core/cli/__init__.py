"""The command-line tools: console scripts `opensora-generate` and `opensora-train`, and
the reading of Open-Sora's config files and flags they share."""

import sys
from collections.abc import Callable

from ..errors import SoraError


def _run(program: str, command: "Callable[[list[str] | None], int]", argv) -> int:
    # Errors we raise are the user's to fix: one line, no traceback.
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
    from .train import PROGRAM, train

    return _run(PROGRAM, train, argv)
