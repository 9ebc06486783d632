"""ComfyUI's V3 API, imported once: the numbered version first, `latest` as fallback."""

try:
    from comfy_api.v0_0_2 import ComfyExtension, InputImpl, Types, io, ui
except ImportError:
    from comfy_api.latest import ComfyExtension, InputImpl, Types, io, ui

__all__ = ["ComfyExtension", "InputImpl", "Types", "io", "ui"]
