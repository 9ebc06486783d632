"""ComfyUI entry point of the Open-Sora node pack.

ComfyUI imports this folder as a package and calls `comfy_entrypoint()`. Outside ComfyUI
(no `comfy_api` to import) the module defines nothing, so tests and headless use of
`sora_core` can import it freely.
"""

try:  # the numbered API stays put when `latest` moves on
    from comfy_api.v0_0_2 import ComfyExtension as _ComfyExtension
except ImportError:
    try:
        from comfy_api.latest import ComfyExtension as _ComfyExtension
    except ImportError:
        _ComfyExtension = None

if _ComfyExtension is not None:

    async def comfy_entrypoint():
        """Return the pack's extension; ComfyUI registers the nodes it lists."""
        from .nodes import OpenSoraExtension

        return OpenSoraExtension()
