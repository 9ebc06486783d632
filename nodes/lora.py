"""The Open-Sora LoRA node: a transformer in, the same transformer with an adapter out."""

from dataclasses import replace
from functools import partial

from .loaders import CATEGORY
from .paths import missing_model, model_choices, resolve_model
from .runtime import with_lora
from .spec import COMBO, FLOAT, MODEL, Input, NodeSpec, Output
from .values import LoadedTransformer


def apply_lora(model: LoadedTransformer, lora_name: str, strength: float) -> tuple:
    """Check the adapter fits the transformer, then add it as a patch (the module is shared)."""
    from sora_core.lora import read_lora

    weights = read_lora(resolve_model("lora", lora_name))
    weights.check_fits(model.model)
    if strength == 0:
        return (model,)
    managed = with_lora(model.managed, weights, strength)
    return (replace(model, managed=managed),)


LORA = NodeSpec(
    node_id="OpenSoraLoRA",
    display_name="Open-Sora LoRA",
    category=CATEGORY,
    description="Applies a LoRA adapter (lora.safetensors from Open-Sora Train or "
    "opensora-train) from models/loras to an Open-Sora transformer. Chain several to stack "
    "them; the weights are patched when the model loads and restored when the node is "
    "removed. An adapter trained on another release or model width is refused.",
    inputs=(
        Input("model", MODEL, "The Open-Sora transformer to adapt."),
        Input(
            "lora_name",
            COMBO,
            "Adapter file in models/loras (written there by the Open-Sora Train node).",
            options=partial(model_choices, "lora"),
            absent=partial(missing_model, "lora"),
        ),
        Input(
            "strength",
            FLOAT,
            "How much of the adapter's update to add: 1 as trained, 0 none, negative subtracts it.",
            default=1.0,
            min=-10.0,
            max=10.0,
            step=0.01,
        ),
    ),
    outputs=(Output(MODEL, "model", "The transformer with the adapter applied."),),
    execute=apply_lora,
    checked_early="lora_name",
)

SPECS = (LORA,)
