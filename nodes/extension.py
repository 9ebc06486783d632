"""The V3 extension ComfyUI asks for the node list (imported inside ComfyUI only)."""

import importlib.util
import sys
from pathlib import Path

from .comfy import ComfyExtension, io

PACK_ROOT = Path(__file__).resolve().parent.parent


def _bundled_library() -> None:
    """Make the `sora_core` shipped beside the nodes importable when it is not installed.

    ComfyUI does not put custom_nodes folders on sys.path (a git clone of the pack is not
    pip-installed), and adding the pack folder itself would expose its `nodes` package
    under ComfyUI's own `nodes` module name; so only `sora_core` is registered.
    """
    if importlib.util.find_spec("sora_core") is not None:
        return
    location = PACK_ROOT / "sora_core"
    spec = importlib.util.spec_from_file_location(
        "sora_core", location / "__init__.py", submodule_search_locations=[str(location)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["sora_core"] = module
    spec.loader.exec_module(module)


class OpenSoraExtension(ComfyExtension):
    """Lists the pack's nodes for ComfyUI's V3 loader."""

    async def get_node_list(self) -> "list[type[io.ComfyNode]]":
        # ComfyUI 0.3.64 never calls on_load: set up here, when the nodes are first listed.
        _bundled_library()
        from .catalog import SPECS
        from .paths import register_opensora_folder
        from .v3 import make_node

        register_opensora_folder()
        return [make_node(spec) for spec in SPECS]
