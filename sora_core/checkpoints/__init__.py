"""Loading released and user checkpoints: one entry point per model family.

`read_state_dict` reads any supported file safely; `load_transformer`, `load_vae` and
`load_text_encoder` detect the model and return it ready for inference; `build_model`,
`build_vae` and `build_text_encoder` take Open-Sora's config dicts. Loading goes one way:
this package builds models, and nothing in `models/`, `vae/` or `text/` imports it.
"""

from importlib import import_module

from .files import folder_weight_file, read_folder_config, read_safetensors_shapes, read_state_dict

# The family loaders pull in model code; import them only when asked for.
_LAZY = {
    "load_transformer": ".transformer",
    "load_vae": ".vae",
    "load_text_encoder": ".text",
    "build_model": ".build",
    "build_vae": ".build",
    "build_text_encoder": ".build",
    "resolve_pretrained": ".build",
}

__all__ = [
    "folder_weight_file",
    "read_folder_config",
    "read_safetensors_shapes",
    "read_state_dict",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
