"""The V3 extension ComfyUI asks for the node list (imported inside ComfyUI only)."""

from .catalog import SPECS
from .comfy import ComfyExtension, io
from .paths import register_opensora_folder
from .v3 import make_node


class OpenSoraExtension(ComfyExtension):
    """Lists the pack's nodes for ComfyUI's V3 loader."""

    async def get_node_list(self) -> "list[type[io.ComfyNode]]":
        # ComfyUI 0.3.64 never calls on_load: set up here, when the nodes are first listed.
        register_opensora_folder()
        return [make_node(spec) for spec in SPECS]
