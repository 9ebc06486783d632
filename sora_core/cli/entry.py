"""How every command ends: our own errors as one line and exit code 2, no traceback."""

import sys
from collections.abc import Callable

from ..errors import SoraError


def run_command(program: str, command: "Callable[[list[str] | None], int]", argv) -> int:
    """`command(argv)`, with a `SoraError` (the user's to fix) printed as `program: error: ...`."""
    try:
        return command(argv)
    except SoraError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
