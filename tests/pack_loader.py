"""The pack imported the way ComfyUI imports it: its folder as a package, under a path name.

Relative imports and the lazy `nodes` package are thereby exercised as in a real install;
`pack_module("loaders")` is the pack's `nodes/loaders.py`.
"""

import importlib
import importlib.util
import sys

from golden import PROJECT_ROOT

PACK = "custom_nodes_opensora_under_test"


def _import_pack():
    if PACK not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            PACK, PROJECT_ROOT / "__init__.py", submodule_search_locations=[str(PROJECT_ROOT)]
        )
        pack = importlib.util.module_from_spec(spec)
        sys.modules[PACK] = pack
        spec.loader.exec_module(pack)
    return sys.modules[PACK]


def pack_module(name: str):
    """The pack's `nodes.<name>` module."""
    _import_pack()
    return importlib.import_module(f"{PACK}.nodes.{name}")
