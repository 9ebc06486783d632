"""Block swap: keep `resident` transformer blocks on the compute device, stream the others.

The first `resident` blocks (in the order the forward runs them) and everything outside the
blocks stay on the device. The other blocks rest in CPU memory (pinned on CUDA, so that
copies run asynchronously); when block i starts, block i+1's weights are copied on a side
stream so that the copy overlaps block i's compute, and after a streamed block ran its
device copies are dropped. At most `resident` + 2 blocks occupy the device at any time.
Only where the weights live changes: the output equals the resident model's.

The transformer calls `before` and `after` around every block (`TransformerBase.run_block`),
outside a compiled block's graph, so block swap and `--compile` combine. Inference only:
a streamed block's weights are not on the device when the backward pass would need them.
"""

import contextlib
from collections.abc import Iterator

import torch

from ..errors import ConfigError
from .compile import transformer_blocks

# Device memory kept free for activations, the caption embedding and the allocator's slack
# when the resident block count is chosen from free memory (`resident_blocks_for`).
ACTIVATION_RESERVE_BYTES = 3 * 2**30


def execution_order(model: torch.nn.Module) -> "list[torch.nn.Module]":
    """The transformer's blocks in the order one forward runs them (STDiT3 alternates its
    spatial and temporal blocks; the others have one `blocks` list)."""
    spatial, temporal = (
        getattr(model, "spatial_blocks", None),
        getattr(model, "temporal_blocks", None),
    )
    if spatial is not None and temporal is not None:
        return [block for pair in zip(spatial, temporal, strict=True) for block in pair]
    return transformer_blocks(model)


def tensor_bytes(tensors) -> int:
    """Bytes held by `tensors`."""
    return sum(t.numel() * t.element_size() for t in tensors)


def _block_tensors(block: torch.nn.Module) -> "list[torch.Tensor]":
    return [*block.parameters(), *block.buffers()]


def _outside_blocks_bytes(model: torch.nn.Module, blocks) -> int:
    in_blocks = {id(t) for block in blocks for t in _block_tensors(block)}
    return tensor_bytes(
        t for t in [*model.parameters(), *model.buffers()] if id(t) not in in_blocks
    )


def resident_blocks_for(model: torch.nn.Module, free_bytes: int, reserve_bytes: int) -> int:
    """How many blocks fit on a device with `free_bytes` free, besides the parts outside the
    blocks, two streamed blocks in flight and `reserve_bytes` for activations."""
    blocks = execution_order(model)
    block_bytes = max(tensor_bytes(_block_tensors(block)) for block in blocks)
    room = free_bytes - reserve_bytes - _outside_blocks_bytes(model, blocks) - 2 * block_bytes
    return max(0, min(len(blocks), room // max(block_bytes, 1)))


def resident_bytes(model: torch.nn.Module, resident: int) -> int:
    """Device bytes of the weights outside the blocks plus the first `resident` blocks (the
    memory budget ComfyUI's partial loading gets for the loader node's block swap)."""
    blocks = execution_order(model)
    kept = blocks[: max(resident, 0)]
    return _outside_blocks_bytes(model, blocks) + tensor_bytes(
        t for block in kept for t in _block_tensors(block)
    )


def free_device_memory(device: torch.device) -> int:
    """Free bytes on a CUDA `device` (what `torch.cuda.mem_get_info` reports)."""
    return torch.cuda.mem_get_info(device)[0]


class BlockSwap:
    """Stream all but `resident` blocks of `model` to `device` around their use.

    `place(device)` moves the model there except the streamed blocks (which stay in CPU
    memory); `pipeline.working` calls it instead of `Module.to`. `loads` counts the block
    copies made to the device (one per streamed block per forward).
    """

    def __init__(self, model: torch.nn.Module, resident: int, device: "str | torch.device"):
        blocks = execution_order(model)
        if isinstance(resident, bool) or not isinstance(resident, int) or resident < 0:
            raise ConfigError(
                f"block swap: resident blocks {resident!r}; expected a whole number from 0 "
                f"(stream every block) to {len(blocks)} (all on the device)"
            )
        self.model = model
        self.device = torch.device(device)
        self.resident = min(resident, len(blocks))
        self.total = len(blocks)
        self.streamed = blocks[self.resident :]
        self._streamed_ids = {id(block) for block in self.streamed}
        self._next = {id(block): following for block, following in zip(blocks, blocks[1:])}
        # Per loaded streamed block: (its tensors, their CPU copies, device copies, event).
        self._loaded: dict[int, tuple] = {}
        self._side = None
        self.loads = 0

    @classmethod
    def install(
        cls,
        model: torch.nn.Module,
        resident: "int | None",
        device: "str | torch.device",
        rest_device: "str | torch.device | None" = None,
    ) -> "BlockSwap":
        """Attach block swap to `model` computing on `device` (`resident` None: as many
        blocks as free memory allows) and place it on `rest_device` (default `device`);
        returns it (also `model.block_swap`)."""
        device = torch.device(device)
        if resident is None:
            if device.type != "cuda":
                raise ConfigError(
                    f"block swap: choosing the resident blocks from free memory needs a CUDA "
                    f"device, not {device}; give the number of blocks to keep on the device"
                )
            resident = resident_blocks_for(
                model, free_device_memory(device), ACTIVATION_RESERVE_BYTES
            )
        swap = cls(model, resident, device)
        model.block_swap = swap
        swap.place(device if rest_device is None else rest_device)
        return swap

    # --- placement ----------------------------------------------------------------------------
    def _storage(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor`'s data in CPU memory, pinned when the device is CUDA."""
        stored = tensor.data.to("cpu")
        if self.device.type == "cuda" and not stored.is_pinned():
            stored = stored.pin_memory()
        return stored

    def place(self, device: "str | torch.device") -> None:
        """Everything but the streamed blocks to `device`; the streamed blocks to CPU memory.

        The tensors are looked up again each time, so adapters (LoRA) added since count."""
        self.release_all()
        streamed = {id(t) for block in self.streamed for t in _block_tensors(block)}
        for tensor in [*self.model.parameters(), *self.model.buffers()]:
            if id(tensor) in streamed:
                tensor.data = self._storage(tensor)
            else:
                tensor.data = tensor.data.to(device)

    def release_all(self) -> None:
        """Drop every device copy of a streamed block (after an interrupted forward too)."""
        for key in list(self._loaded):
            self._release(key)

    # --- streaming ----------------------------------------------------------------------------
    def _load(self, block: torch.nn.Module) -> None:
        tensors = _block_tensors(block)
        stored = [t.data for t in tensors]
        event = None
        if self.device.type == "cuda":
            if self._side is None:
                self._side = torch.cuda.Stream(self.device)
            with torch.cuda.stream(self._side):
                copies = [s.to(self.device, non_blocking=True) for s in stored]
                event = torch.cuda.Event()
                event.record(self._side)
        else:
            copies = [s.to(self.device, copy=True) for s in stored]
        for tensor, copy in zip(tensors, copies):
            tensor.data = copy
        self._loaded[id(block)] = (tensors, stored, copies, event)
        self.loads += 1

    def _release(self, key: int) -> None:
        tensors, stored, _, _ = self._loaded.pop(key)
        for tensor, data in zip(tensors, stored):
            tensor.data = data

    def before(self, block: torch.nn.Module) -> None:
        """Make `block` usable on the device and start copying the block after it."""
        key = id(block)
        if key in self._streamed_ids:
            if key not in self._loaded:
                self._load(block)
            _, _, copies, event = self._loaded[key]
            if event is not None:
                stream = torch.cuda.current_stream(self.device)
                stream.wait_event(event)
                for copy in copies:
                    # Allocated on the side stream, used on this one: not reused before
                    # this stream is done with it.
                    copy.record_stream(stream)
        following = self._next.get(key)
        if following is not None and id(following) in self._streamed_ids:
            if id(following) not in self._loaded:
                self._load(following)

    def after(self, block: torch.nn.Module) -> None:
        """Drop a streamed `block`'s device copies (its weights rest in CPU memory again)."""
        if id(block) in self._loaded:
            self._release(id(block))

    @contextlib.contextmanager
    def using(self, block: torch.nn.Module) -> Iterator[None]:
        """`before(block)`, the block's call, `after(block)` (also when the call raises)."""
        if torch.is_grad_enabled() and self.model.training:
            raise ConfigError(
                "block swap: inference only; the backward pass needs every block's weights "
                "on the device (use gradient checkpointing for training memory)"
            )
        self.before(block)
        try:
            yield
        finally:
            self.after(block)

    def describe(self) -> str:
        """The swap in words, for the run summary."""
        return f"block swap: {self.resident} of {self.total} blocks kept on {self.device}"

    def loaded_blocks(self) -> int:
        """Blocks on the device now: the resident ones and the streamed ones loaded."""
        return self.resident + len(self._loaded)


def place_module(module: torch.nn.Module, device: "str | torch.device") -> None:
    """`module.to(device)`, leaving a block-swapped transformer's streamed blocks in CPU
    memory (`BlockSwap.place`)."""
    swap = getattr(module, "block_swap", None)
    if swap is not None:
        swap.place(device)
    else:
        module.to(device)
