"""The pack's ComfyUI nodes: thin adapters from ComfyUI values to `sora_core` calls.

Imported only inside ComfyUI (through the pack's `__init__.py`); every model import
happens inside node functions so that a missing optional dependency cannot stop the
pack from loading.
"""

from .comfy import ComfyExtension, io


class OpenSoraExtension(ComfyExtension):
    """Lists the pack's nodes for ComfyUI's V3 loader."""

    async def get_node_list(self) -> "list[type[io.ComfyNode]]":
        return list(NODES)


NODES: "list[type[io.ComfyNode]]" = []
