"""One process or many: the rank, the device, and the model wrapped for DDP or FSDP2.

`torchrun` sets RANK / WORLD_SIZE / LOCAL_RANK; without them the run is one process and
the model is not wrapped. NCCL on CUDA, gloo on the CPU.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError
from .config import Parallelism


@dataclass(frozen=True)
class Ranks:
    """Where this process sits: its rank among `world_size` and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """The one process that writes checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _device(name: "str | None", local_rank: int) -> torch.device:
    if name in (None, "", "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device = {name!r}, but no CUDA device is available; use device='cpu'"
            )
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


def init_ranks(device: "str | None" = None) -> Ranks:
    """Join the process group `torchrun` describes (if any) and pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = _device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Ranks(rank=rank, world_size=world_size, device=chosen)


def close_ranks() -> None:
    """Leave the process group (a no-op for one process)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    """Wait for every rank."""
    if ranks.distributed:
        dist.barrier()


def mean_over_ranks(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of `value` over all ranks (the value itself for one process)."""
    if not ranks.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / ranks.world_size


def sum_over_ranks(count: int, ranks: Ranks) -> int:
    """The sum of an integer over all ranks."""
    if not ranks.distributed:
        return count
    total = torch.tensor([count], dtype=torch.int64, device=ranks.device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return int(total.item())


def _blocks(model: torch.nn.Module) -> "list[torch.nn.Module]":
    # Each transformer block is its own FSDP unit, so one block's weights are gathered at a time.
    blocks = []
    for name in ("blocks", "spatial_blocks", "temporal_blocks"):
        blocks.extend(getattr(model, name, []))
    return blocks


def distribute(
    model: torch.nn.Module, ema: "torch.nn.Module | None", parallelism: Parallelism, ranks: Ranks
):
    """The model as the training loop calls it: itself, DDP, or FSDP2 (`fully_shard`).

    Under FSDP2 the EMA copy (None in a LoRA run) is sharded the same way, so `update_ema`
    works shard by shard and each rank holds only its part. Returns `(model_for_forward, ema)`.
    """
    if not ranks.distributed:
        return model, ema
    if parallelism.strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [ranks.device.index] if ranks.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids), ema
    from torch.distributed.fsdp import fully_shard

    for module in (model, ema) if ema is not None else (model,):
        for block in _blocks(module):
            fully_shard(block, reshard_after_forward=parallelism.reshard_after_forward)
        fully_shard(module, reshard_after_forward=parallelism.reshard_after_forward)
    return model, ema


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module with the parameter names of the checkpoint (DDP's `.module`)."""
    return getattr(model, "module", model)
