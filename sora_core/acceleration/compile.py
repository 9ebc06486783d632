"""`torch.compile` for the transformer, one block at a time.

Each block compiles whole (`fullgraph=True`: a graph break is an error, not a silent slow
path); the embedders, caption packing and the step cache stay eager, so the few graphs are
reused by every block of the same kind and shape. Compiling in place (`Module.compile`)
keeps the state-dict keys, so checkpoints, LoRA and block swap see the same module.
"""

import torch

from ..errors import ConfigError


def transformer_blocks(model: torch.nn.Module) -> "list[torch.nn.Module]":
    """Every block of a transformer (the `*blocks` module lists: `blocks`, `spatial_blocks`,
    `temporal_blocks`), in module order."""
    blocks = [
        block
        for name, child in model.named_children()
        if name.endswith("blocks") and isinstance(child, torch.nn.ModuleList)
        for block in child
    ]
    if not blocks:
        raise ConfigError(
            f"{type(model).__name__} has no transformer blocks (`blocks`, `spatial_blocks`, "
            "`temporal_blocks`); expected an Open-Sora transformer"
        )
    return blocks


def compile_blocks(
    model: torch.nn.Module, backend: str = "inductor", mode: "str | None" = None
) -> torch.nn.Module:
    """Compile each block of `model` in place (no graph breaks allowed); returns `model`."""
    for block in transformer_blocks(model):
        block.compile(backend=backend, mode=mode, fullgraph=True)
    return model


def graph_breaks(block: torch.nn.Module, *inputs) -> int:
    """`torch._dynamo.explain`'s graph-break count for one block call on `inputs`."""
    explanation = torch._dynamo.explain(block)(*inputs)
    return explanation.graph_break_count
