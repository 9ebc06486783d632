"""Per-block `torch.compile`: no graph breaks in any block kind of the three versions
(`torch._dynamo.explain`), compiled forwards equal eager ones, state-dict keys unchanged."""

import pytest
import torch
from acceleration_helpers import LATENT_THW, one_thread, tiny_transformer

from sora_core.acceleration.compile import compile_blocks, graph_breaks, transformer_blocks
from sora_core.errors import ConfigError

MODELS = ("STDiT", "STDiT2", "STDiT3")
LATENT = (2, 4, *LATENT_THW)


@pytest.fixture(autouse=True)
def _one_thread():
    yield from one_thread()
    torch._dynamo.reset()


def tiny(name: str) -> torch.nn.Module:
    return tiny_transformer(name, depth=1)


def inputs(x_mask: bool) -> dict:
    g = torch.Generator().manual_seed(1)
    batch = LATENT[0]
    return {
        "x": torch.randn(LATENT, generator=g),
        "timestep": torch.tensor([700.0, 700.0]),
        "y": torch.randn(batch, 1, 8, 16, generator=g),
        "mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3]),
        "x_mask": torch.tensor([[False, True, True, True, True]] * batch) if x_mask else None,
        "height": torch.tensor([64.0]),
        "width": torch.tensor([64.0]),
        "num_frames": torch.tensor([17.0]),
        "ar": torch.tensor([1.0]),
        "fps": torch.tensor([24.0]),
    }


def block_calls(model, kwargs) -> "list[tuple]":
    """(block, args) of the first call of every block in one forward."""
    seen = []
    hooks = [
        block.register_forward_pre_hook(lambda module, args: seen.append((module, args)))
        for block in transformer_blocks(model)
    ]
    with torch.no_grad():
        model(**kwargs)
    for hook in hooks:
        hook.remove()
    return seen


@pytest.mark.parametrize(
    ("name", "x_mask"), [("STDiT3", False), ("STDiT3", True), ("STDiT2", True), ("STDiT", True)]
)
def test_every_block_traces_without_graph_breaks(name, x_mask):
    model = tiny(name)
    calls = block_calls(model, inputs(x_mask))
    assert len(calls) == len(transformer_blocks(model))
    with torch.no_grad():
        assert [graph_breaks(block, *args) for block, args in calls] == [0] * len(calls)


@pytest.mark.parametrize("name", MODELS)
def test_compiled_blocks_give_the_eager_output_and_keep_the_keys(name):
    model = tiny(name)
    keys = list(model.state_dict())
    with torch.no_grad():
        eager = model(**inputs(True))
        compile_blocks(model, backend="eager")  # dynamo with fullgraph, no code generation
        compiled = model(**inputs(True))
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(compiled, eager, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_inductor_compiled_stdit3_matches_eager():
    model = tiny("STDiT3")
    with torch.no_grad():
        eager = model(**inputs(True))
        compiled = compile_blocks(model)(**inputs(True))
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)


def test_compiling_something_without_blocks_is_a_config_error():
    with pytest.raises(ConfigError, match="has no transformer blocks"):
        compile_blocks(torch.nn.Linear(2, 2))


def test_the_compile_flag_and_config_key_compile_every_block():
    from types import SimpleNamespace

    from sora_core.acceleration import Acceleration, apply_acceleration
    from sora_core.cli.generate_config import build_parser

    assert build_parser().parse_args(["--compile"]).compile is True
    acceleration = Acceleration.from_config({"compile": True})
    models = SimpleNamespace(transformer=tiny("STDiT3"), step_cache=None)
    apply_acceleration(models, acceleration)
    blocks = transformer_blocks(models.transformer)
    assert all(block._compiled_call_impl is not None for block in blocks)


def test_a_compile_setting_that_is_not_a_boolean_is_a_config_error():
    from sora_core.acceleration import Acceleration

    with pytest.raises(ConfigError, match="compile: 'yes'"):
        Acceleration.from_config({"compile": "yes"})
