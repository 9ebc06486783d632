"""Sequence-parallel inference: one STDiT3 forward split over the processes of a group.

As Open-Sora 1.2's sequence parallelism: every process holds the whole model and the same
inputs; inside the block loop each keeps 1/N of every frame's spatial tokens. Temporal
attention, cross-attention and the MLPs only mix a token with itself, its own column of
frames or the captions, so they run on the local tokens unchanged; spatial attention
needs every token of a frame, so its queries, keys and values are exchanged all-to-all
(each process then holds all tokens for 1/N of the heads) and the output is exchanged
back. After the last block the tokens are gathered, so the step cache, the final layer
and the sampler see the same full tensors on every process.

Any N works: when N does not divide a frame's S spatial tokens, every frame is padded with
zero tokens to the next multiple of N before the split (pad, split, gather, unpad, as
the reference's padded sequence split). The padding sits after each frame's last
real token, so after the exchange it is the tail of every frame's sequence; spatial
attention drops it from queries, keys and values (padded tokens never reach a real
token's output) and the gather after the last block drops it from the tokens. Temporal
attention, cross-attention and the MLPs compute padded tokens on their own, unseen.

Under `torchrun --nproc_per_node N`, `from_environment` starts the process group
(gloo on the CPU, NCCL on CUDA).
"""

import contextlib
import dataclasses
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..errors import ConfigError


class SequenceParallel:
    """Split, exchange and gather token tensors over the processes of `group`."""

    def __init__(self, group=None):
        self.group = group
        self.size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        # Zero tokens appended to every frame for the forward in progress (`blocks`).
        self.padding = 0

    # --- the exchanges ------------------------------------------------------------------------
    def split(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """This process's contiguous 1/N slice of `x` along `dim`."""
        return x.chunk(self.size, dim)[self.rank].contiguous()

    def gather(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """Every process's `x`, concatenated along `dim` in rank order."""
        parts = [torch.empty_like(x) for _ in range(self.size)]
        dist.all_gather(parts, x.contiguous(), group=self.group)
        return torch.cat(parts, dim)

    def all_to_all(self, x: torch.Tensor, scatter_dim: int, gather_dim: int) -> torch.Tensor:
        """Send slice j of `x` along `scatter_dim` to process j; concatenate what arrives
        along `gather_dim` in rank order."""
        outgoing = [part.contiguous() for part in x.chunk(self.size, scatter_dim)]
        incoming = [torch.empty_like(part) for part in outgoing]
        dist.all_to_all(incoming, outgoing, group=self.group)
        return torch.cat(incoming, gather_dim)

    def heads_to_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, h, S'/N, d]` (all heads, local tokens of the padded frame) -> `[B, h/N, S, d]`
        (the frame's real tokens: the padding, its tail, is dropped)."""
        frame = self.all_to_all(x, scatter_dim=1, gather_dim=2)
        return frame[:, :, : frame.shape[2] - self.padding]

    def tokens_to_heads(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, h/N, S, d]` -> `[B, h, S'/N, d]` (the inverse of `heads_to_tokens`; padded
        tokens get zeros)."""
        padded = F.pad(x, (0, 0, 0, self.padding))
        return self.all_to_all(padded, scatter_dim=2, gather_dim=1)

    # --- the model ----------------------------------------------------------------------------
    def install(self, model: torch.nn.Module) -> "SequenceParallel":
        """Run `model`'s blocks split over the group (STDiT3 only); returns self."""
        if not getattr(model, "sequence_parallelizable", False):
            raise ConfigError(
                f"sequence parallelism: {type(model).__name__} does not support it; it needs "
                "an Open-Sora 1.2 transformer (STDiT3)"
            )
        if model.num_heads % self.size:
            raise ConfigError(
                f"sequence parallelism: {model.num_heads} attention heads do not split over "
                f"{self.size} processes; run a process count that divides {model.num_heads}"
            )
        model.sequence_parallel = self
        for block in model.spatial_blocks:
            block.attn.sequence_parallel = self
        return self

    def padded_spatial(self, spatial: int) -> int:
        """Spatial tokens per frame after padding to a multiple of the process count."""
        return -(-spatial // self.size) * self.size

    @contextlib.contextmanager
    def _padding(self, padding: int) -> Iterator[None]:
        self.padding = padding
        try:
            yield
        finally:
            self.padding = 0

    def blocks(self, blocks, tokens: torch.Tensor, ctx):
        """`blocks(tokens, ctx)` on this process's share of every frame's spatial tokens
        (padded to a multiple of N); returns the full tokens `[B, T*S, C]` (gathered)."""
        batch, _, channels = tokens.shape
        padded = self.padded_spatial(ctx.spatial)
        grid = tokens.view(batch, ctx.frames, ctx.spatial, channels)
        grid = F.pad(grid, (0, 0, 0, padded - ctx.spatial))  # [B, T, S', C]
        local = self.split(grid, dim=2)
        local_ctx = dataclasses.replace(ctx, spatial=padded // self.size)
        with self._padding(padded - ctx.spatial):
            out = blocks(local.flatten(1, 2), local_ctx)
        out = out.view(batch, ctx.frames, local_ctx.spatial, channels)
        return self.gather(out, dim=2)[:, :, : ctx.spatial].flatten(1, 2)


def world_size_from_environment() -> int:
    """Processes `torchrun` started (`WORLD_SIZE`), 1 without it."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def from_environment(device: torch.device) -> "SequenceParallel | None":
    """Under `torchrun` with more than one process: join the default group (gloo on the
    CPU, NCCL on CUDA) and return its `SequenceParallel`; otherwise None."""
    if world_size_from_environment() <= 1:
        return None
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return SequenceParallel()


def local_device(device: torch.device) -> torch.device:
    """Under `torchrun` on CUDA, each process's own GPU (`LOCAL_RANK`); else `device`."""
    if device.type == "cuda" and device.index is None and world_size_from_environment() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device
