"""Open-Sora's diffusion transformers: STDiT (1.0), STDiT2 (1.1), STDiT3 (1.2), and the
image/video models its v1.2.0 tree also runs: DiT, Latte, PixArt-α (PixArt, PixArtMS), PixArt-Σ.

`model_class(type)` maps Open-Sora's model `type` names to a class and its preset sizes;
`sora_core.checkpoints.build_model` builds one from a config dict.
"""

from ..errors import ConfigError
from .dit import DiT, Latte
from .pixart import PixArt, PixArt_Sigma, PixArtMS
from .stdit import STDiT
from .stdit2 import STDiT2
from .stdit3 import STDiT3

MODEL_CLASSES = {
    cls.__name__: cls for cls in (STDiT, STDiT2, STDiT3, DiT, Latte, PixArt, PixArtMS, PixArt_Sigma)
}

# The reference's registry factories: a class plus fixed sizes.
_XL_2 = {"depth": 28, "hidden_size": 1152, "patch_size": (1, 2, 2), "num_heads": 16}
FACTORIES = {
    "STDiT-XL/2": (STDiT, _XL_2),
    "STDiT2-XL/2": (STDiT2, _XL_2),
    "STDiT3-XL/2": (STDiT3, _XL_2),
    "STDiT3-3B/2": (STDiT3, {**_XL_2, "hidden_size": 1872, "num_heads": 26}),
    "DiT-XL/2": (DiT, _XL_2),
    "DiT-XL/2x2": (DiT, {**_XL_2, "patch_size": (2, 2, 2)}),
    "Latte-XL/2": (Latte, _XL_2),
    "Latte-XL/2x2": (Latte, {**_XL_2, "patch_size": (2, 2, 2)}),
    "PixArt-XL/2": (PixArt, _XL_2),
    "PixArt-1B/2": (PixArt, {**_XL_2, "hidden_size": 1872, "num_heads": 26}),
    "PixArtMS-XL/2": (PixArtMS, _XL_2),
    "PixArt-Sigma-XL/2": (PixArt_Sigma, _XL_2),
}


def model_class(name: str):
    """The class and preset sizes for an Open-Sora model `type` name."""
    if name in FACTORIES:
        return FACTORIES[name]
    if name in MODEL_CLASSES:
        return MODEL_CLASSES[name], {}
    raise ConfigError(
        f"type: unknown model {name!r}; expected one of {sorted(FACTORIES) + sorted(MODEL_CLASSES)}"
    )


__all__ = [
    "FACTORIES",
    "MODEL_CLASSES",
    "DiT",
    "Latte",
    "PixArt",
    "PixArtMS",
    "PixArt_Sigma",
    "STDiT",
    "STDiT2",
    "STDiT3",
    "model_class",
]
