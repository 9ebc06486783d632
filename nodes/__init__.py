"""The pack's ComfyUI nodes: thin adapters from ComfyUI values to `sora_core` calls.

Declarations (`catalog.SPECS`) and their functions import no ComfyUI module, so tests use
them directly; `OpenSoraExtension` (built by `v3.py`, inside ComfyUI only) is loaded on
first use. Model imports happen inside node functions, so a missing optional dependency
cannot stop the pack from loading.
"""


def __getattr__(name: str):
    if name == "OpenSoraExtension":
        from .extension import OpenSoraExtension

        return OpenSoraExtension
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
