"""Optional accelerator packages (flash-attn, Triton): whether each imports, asked once."""

import importlib
from functools import cache


@cache
def importable(package: str) -> bool:
    """True when the optional `package` imports (cached: installing one needs a restart)."""
    try:
        importlib.import_module(package)
    except ImportError:
        return False
    return True
