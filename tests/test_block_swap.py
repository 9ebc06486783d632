"""Block swap: streamed blocks give the resident model's output bit for bit on every STDiT
version, live in CPU memory except while they (or the block before them) run, are copied
once per forward, and bad settings fail with their name.

No GPU here: the CPU plays both memories (a streamed block's device copy is a fresh CPU
copy), so the bookkeeping (which tensors the blocks compute with, when) is what is checked;
the CUDA side stream and pinned memory are not exercised."""

import pytest
import torch
from acceleration_helpers import forward_inputs, one_thread, tiny_transformer

from sora_core.acceleration import Acceleration, BlockSwap
from sora_core.acceleration.block_swap import (
    execution_order,
    place_module,
    resident_blocks_for,
    tensor_bytes,
)
from sora_core.acceleration.compile import compile_blocks
from sora_core.cli import generate_main
from sora_core.errors import ConfigError

MODELS = ("STDiT", "STDiT2", "STDiT3")
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    yield from one_thread()
    torch._dynamo.reset()


def forward(model) -> torch.Tensor:
    with torch.no_grad():
        return model(**forward_inputs())


def storage_pointers(swap: BlockSwap) -> "dict[int, list[int]]":
    """Where each streamed block's tensors rest (their CPU memory) right now."""
    return {
        id(block): [t.data_ptr() for t in [*block.parameters(), *block.buffers()]]
        for block in swap.streamed
    }


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("resident", [0, 1, 3, 100])
def test_streamed_blocks_give_the_resident_output_bit_for_bit(name, resident):
    model = tiny_transformer(name)
    expected = forward(model)
    total = len(execution_order(model))
    swap = BlockSwap.install(model, resident, CPU)
    assert swap.resident == min(resident, total) and len(swap.streamed) == total - swap.resident
    assert torch.equal(forward(model), expected)
    assert torch.equal(forward(model), expected)  # a second call (prefetch state reset)
    assert swap.loads == 2 * len(swap.streamed)  # one copy per streamed block per forward


def test_streamed_blocks_compute_with_copies_and_rest_in_cpu_memory_between_uses():
    model = tiny_transformer("STDiT3", depth=3)
    swap = BlockSwap.install(model, 2, CPU)
    resting = storage_pointers(swap)
    order = execution_order(model)
    seen = []

    def check(block, _args):
        index = order.index(block)
        pointers = [t.data_ptr() for t in block.parameters()]
        streamed = id(block) in resting
        # A streamed block runs on its device copy, never on its resting tensors.
        assert not streamed or not set(pointers) & set(resting[id(block)])
        following = order[index + 1] if index + 1 < len(order) else None
        if following is not None and id(following) in resting:
            assert id(following) in swap._loaded  # prefetched while this block runs
        seen.append((index, swap.loaded_blocks()))

    for block in order:
        block.register_forward_pre_hook(check)
    forward(model)
    assert [index for index, _ in seen] == list(range(6))
    assert max(loaded for _, loaded in seen) <= swap.resident + 2
    assert storage_pointers(swap) == resting and not swap._loaded


def test_stdit3_streams_in_the_order_its_forward_runs_the_blocks():
    model = tiny_transformer("STDiT3", depth=2)
    order = execution_order(model)
    assert order == [
        model.spatial_blocks[0],
        model.temporal_blocks[0],
        model.spatial_blocks[1],
        model.temporal_blocks[1],
    ]
    ran = []
    for block in order:
        block.register_forward_pre_hook(lambda block, _: ran.append(block))
    forward(model)
    assert ran == order


def test_a_failing_block_still_returns_its_weights_to_cpu_memory():
    model = tiny_transformer("STDiT3")
    swap = BlockSwap.install(model, 1, CPU)
    resting = storage_pointers(swap)

    def fail(*_):
        raise RuntimeError("interrupted")

    swap.streamed[0].register_forward_pre_hook(fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        forward(model)
    swap.place(CPU)  # what `working` does when the phase ends
    assert storage_pointers(swap) == resting and not swap._loaded


def test_the_state_dict_is_unchanged_and_place_keeps_streamed_blocks_in_cpu_memory():
    model = tiny_transformer("STDiT2")
    before = {key: value.clone() for key, value in model.state_dict().items()}
    swap = BlockSwap.install(model, 1, CPU)
    resting = storage_pointers(swap)
    place_module(model, CPU)
    assert storage_pointers(swap) == resting
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[key], value) for key, value in before.items())


def test_block_swap_combines_with_compiled_blocks():
    model = tiny_transformer("STDiT3", depth=1)
    expected = forward(model)
    BlockSwap.install(model, 0, CPU)
    compile_blocks(model, backend="eager")
    assert torch.allclose(forward(model), expected, rtol=0, atol=1e-6)


def test_resident_blocks_follow_free_memory():
    model = tiny_transformer("STDiT3", depth=3)
    block = tensor_bytes([*model.spatial_blocks[0].parameters()])
    outside = tensor_bytes([*model.parameters(), *model.buffers()]) - 6 * block
    assert resident_blocks_for(model, outside + 2 * block, 0) == 0
    assert resident_blocks_for(model, outside + 5 * block + block // 2, 0) == 3
    assert resident_blocks_for(model, outside + 50 * block, 0) == 6
    assert resident_blocks_for(model, outside + 50 * block, 47 * block) == 1
    assert resident_blocks_for(model, 0, 0) == 0


@pytest.mark.parametrize("resident", [-1, 1.5, True])
def test_a_bad_resident_count_is_a_config_error(resident):
    with pytest.raises(ConfigError, match="block swap: resident blocks"):
        BlockSwap(tiny_transformer("STDiT3"), resident, CPU)


def test_choosing_from_free_memory_needs_cuda():
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        BlockSwap.install(tiny_transformer("STDiT3"), None, CPU)


def test_training_through_streamed_blocks_is_refused():
    model = tiny_transformer("STDiT3").train()
    BlockSwap.install(model, 0, CPU)
    with pytest.raises(ConfigError, match="inference only"):
        model(**forward_inputs())


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), (False, None), (True, "auto"), ("auto", "auto"), (3, 3)]
)
def test_the_block_swap_config_key(value, expected):
    assert Acceleration.from_config({"block_swap": value}).block_swap == expected


def test_a_bad_block_swap_config_value_names_the_key():
    with pytest.raises(ConfigError, match="block_swap: -2"):
        Acceleration.from_config({"block_swap": -2})


# --- opensora-generate --------------------------------------------------------------------
TINY = ["--demo", "--image-size", "32", "48", "--num-sampling-steps", "2", "--seed", "7"]


def test_the_flag_parses_and_on_the_cpu_the_summary_says_it_has_nothing_to_do(tmp_path, capsys):
    from sora_core.cli.generate_config import build_parser

    assert build_parser().parse_args(["--block-swap"]).block_swap is True
    assert build_parser().parse_args(["--block-swap=4"]).block_swap == 4
    flags = [*TINY, "--save-dir", str(tmp_path), "--num-frames", "1", "--block-swap", "1"]
    assert generate_main(flags) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "block swap not needed on cpu" in line


def test_a_block_count_that_is_not_a_number_names_the_flag(capsys):
    with pytest.raises(SystemExit):
        generate_main(["--block-swap", "config.py"])
    assert "--block-swap: 'config.py' is not a block count" in capsys.readouterr().err
