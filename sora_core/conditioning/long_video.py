"""Long videos: generate clip after clip, each conditioned on the tail of the one before.

Loop `i > 0` encodes the whole previous clip, appends it to every prompt's references and
adds the group `i,<new ref>,-L,0,L,<edit>`: its last L latent frames become the first L
of the new clip. The saved video drops the pixel frames those L latents cover from every
clip but the first. Sampling itself is the caller's `sample_fn`, so the same bookkeeping
serves the pipeline, the ComfyUI nodes and the fixtures' stand-ins.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..geometry import dframe_to_frame
from ..prompts import MAX_LOOPS, prompts_for_loop
from .apply import apply_mask_strategy
from .references import LatentVideoCodec
from .strategy import ConditionFrames, MaskStrategy, append_group

# (conditioned noise z (B, C, T, H, W), edit mask (B, T) or None, prompts, loop index) -> latent
SampleFn = Callable[[torch.Tensor, "torch.Tensor | None", "list[str]", int], torch.Tensor]
# loop index -> fresh noise z (B, C, T, H, W); drawn after the previous clip is encoded
NoiseFn = Callable[[int], torch.Tensor]

RELEASES = ("1.1", "1.2")


def frame_bookkeeping(release: str, per_frame_vae: bool) -> str:
    """The long-video arithmetic ("1.1" or "1.2") of a transformer release and its VAE.

    It follows the VAE, not the transformer: 1.2's VAE keeps 17-frame chunks, a per-frame
    VAE (1.0/1.1's, or the embedded demo model's under an STDiT3) keeps one latent frame per
    pixel frame.
    """
    return "1.2" if release == "1.2" and not per_frame_vae else "1.1"


@dataclass(frozen=True)
class LongVideoSettings:
    """`loop`, `condition_frame_length` (latent frames), `condition_frame_edit`, `align`.

    release "1.2": 17-frame VAE chunks (stitching needs L a multiple of 5), groups carry
    the edit ratio;
    "1.1": per-frame VAE (latent = pixel frames), groups without edit ratio (edit 0).
    `strict` rejects clipped or overlapping groups instead of following the reference.
    """

    loop: int = 1
    condition_frame_length: int = 5
    condition_frame_edit: float = 0.0
    align: "int | None" = None
    release: str = "1.2"
    strict: bool = False

    def __post_init__(self) -> None:
        if self.release not in RELEASES:
            raise ConfigError(f"long-video release {self.release!r}: choose one of {RELEASES}")
        if isinstance(self.loop, bool) or not isinstance(self.loop, int):
            raise ConfigError(f"loop = {self.loop!r} must be an integer from 1 to {MAX_LOOPS}")
        if not 1 <= self.loop <= MAX_LOOPS:
            raise ConfigError(f"loop = {self.loop} must be from 1 to {MAX_LOOPS}")
        length = self.condition_frame_length
        if not isinstance(length, int) or length < 1:
            raise ConfigError(f"condition_frame_length = {length!r} must be an integer >= 1")
        if not 0.0 <= self.condition_frame_edit <= 1.0:
            raise ConfigError(
                f"condition_frame_edit = {self.condition_frame_edit!r} must be in [0, 1]"
            )
        if self.align is not None and (
            isinstance(self.align, bool) or not isinstance(self.align, int) or self.align < 1
        ):
            raise ConfigError(
                f"align = {self.align!r} must be None (no snapping) or an integer >= 1 "
                "(latent frames; Open-Sora 1.2 uses 5)"
            )
        if self.release == "1.1" and self.condition_frame_edit != 0.0:
            raise ConfigError("condition_frame_edit is an Open-Sora 1.2 option; 1.1 keeps it 0")

    @property
    def dropped_frames(self) -> int:
        """Pixel frames each later clip repeats from the one before (dropped when stitching)."""
        if self.release == "1.1":
            return self.condition_frame_length
        return dframe_to_frame(self.condition_frame_length)

    def total_frames(self, num_frames: int) -> int:
        """Length of the stitched video: 51 frames, L = 5, 3 loops -> 51 + 2 * 34 = 119."""
        if self.loop > 1 and num_frames <= self.dropped_frames:
            raise ConfigError(
                f"num_frames = {num_frames} must exceed the {self.dropped_frames} pixel frames "
                f"that condition_frame_length = {self.condition_frame_length} repeats per loop"
            )
        return num_frames + (self.loop - 1) * (num_frames - self.dropped_frames)

    def continuation(self, loop_index: int, reference_index: int) -> ConditionFrames:
        """The group that carries the previous clip's tail into loop `loop_index`."""
        length = self.condition_frame_length
        return ConditionFrames(
            loop_index, reference_index, -length, 0, length, self.condition_frame_edit
        )


@dataclass
class LoopRecord:
    """What one loop used: prompts, strategies, reference lengths and the edit mask."""

    loop_index: int
    prompts: "list[str]"
    mask_strategies: "list[MaskStrategy]"
    reference_frames: "list[list[int]]"
    masks: "torch.Tensor | None"


@dataclass
class LongVideoResult:
    """The stitched video (B, 3, T, H, W) or None, the last loop's latent and each loop's record."""

    video: "torch.Tensor | None"
    latent: torch.Tensor
    loops: "list[LoopRecord]"


def append_generated(
    vae: LatentVideoCodec,
    clip: torch.Tensor,
    references: "Sequence[Sequence[torch.Tensor]]",
    strategies: "Sequence[MaskStrategy]",
    loop_index: int,
    settings: LongVideoSettings,
) -> "tuple[list[list[torch.Tensor]], list[MaskStrategy]]":
    """Encode the whole previous clip (B, 3, T, H, W) and add it as each prompt's last reference."""
    latents = vae.encode(clip)
    new_references = [[*prompt, latents[index]] for index, prompt in enumerate(references)]
    # 1.1 printed five numbers (no edit ratio), 1.2 all six: keep the strings identical.
    compact = settings.release == "1.1"
    new_strategies = [
        append_group(
            strategy, settings.continuation(loop_index, len(new_references[index]) - 1), compact
        )
        for index, strategy in enumerate(strategies)
    ]
    return new_references, new_strategies


def stitch_clips(clips: "Sequence[torch.Tensor]", dropped_frames: int) -> torch.Tensor:
    """Concatenate (B, 3, T, H, W) clips in time, dropping each later clip's repeated head."""
    return torch.cat([clips[0], *(clip[:, :, dropped_frames:] for clip in clips[1:])], dim=2)


def generate_long_video(
    vae: LatentVideoCodec,
    sample_fn: SampleFn,
    draw_noise: NoiseFn,
    prompts: "Sequence[str]",
    references: "Sequence[Sequence[torch.Tensor]]",
    mask_strategies: "Sequence[MaskStrategy]",
    num_frames: int,
    settings: LongVideoSettings,
    decode: bool = True,
) -> LongVideoResult:
    """Run `settings.loop` clips: per-loop prompts, tail conditioning, stitching.

    prompts: merged prompts (`|0|...|2|...` or plain); references[i]: prompt i's encoded
    references (C, T_ref, H, W); mask_strategies[i]: prompt i's strategy. The random order
    is the reference's: encode the previous clip, draw noise, condition, sample, decode.
    This is the one place where a mask strategy is written into the latent. `decode=False`
    (one loop only) returns the latent alone.
    """
    if len(references) != len(prompts) or len(mask_strategies) != len(prompts):
        raise ConfigError(
            f"{len(prompts)} prompts need as many reference lists and mask strategies; got "
            f"{len(references)} and {len(mask_strategies)}"
        )
    settings.total_frames(num_frames)  # a length that cannot stitch fails before sampling
    if not decode and settings.loop > 1:
        raise ConfigError(f"loop = {settings.loop}: every clip but the last must be decoded")
    references = [list(prompt) for prompt in references]
    strategies = list(mask_strategies)
    clips: list[torch.Tensor] = []
    loops: list[LoopRecord] = []
    for loop_index in range(settings.loop):
        loop_prompts = prompts_for_loop(list(prompts), loop_index)
        if loop_index > 0:
            references, strategies = append_generated(
                vae, clips[-1], references, strategies, loop_index, settings
            )
        z = draw_noise(loop_index)
        masks = apply_mask_strategy(
            z, references, strategies, loop_index, settings.align, settings.strict
        )
        loops.append(
            LoopRecord(
                loop_index,
                loop_prompts,
                list(strategies),
                [[reference.shape[1] for reference in prompt] for prompt in references],
                masks,
            )
        )
        samples = sample_fn(z, masks, loop_prompts, loop_index)
        if decode:
            clips.append(vae.decode(samples, num_frames=num_frames))
    video = stitch_clips(clips, settings.dropped_frames) if decode else None
    return LongVideoResult(video, samples, loops)
