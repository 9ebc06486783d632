"""A batch of prompts to decoded videos: the long-video loop over `sample_latent`.

`generate_batch` is Open-Sora's inference loop body for one batch: encode every loop's
prompts (text encoder on the device, then off), load and encode references (VAE on, then
off), then per loop draw the latent, write the conditions in, sample (transformer on, then
off) and decode (VAE on, then off), stitching the clips into one video per prompt.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ..acceleration.step_cache import StepCache
from ..conditioning import (
    LongVideoSettings,
    LoopRecord,
    MaskStrategy,
    encode_references,
    generate_long_video,
    load_references,
)
from ..conditioning.references import ReferenceSource
from ..samplers import NoiseSource, Sampler, SamplerStep, as_noise_source
from .codec import PlacedCodec
from .placement import Placement, working
from .sampling import MULTI_RESOLUTION, draw_latent, sample_latent, size_conditioning
from .text import PromptEncoding, encode_prompts

SPATIAL_FACTOR = 8  # every Open-Sora VAE downsamples height and width by 8
# (loop index, step) after every sampler step: progress bars, previews, interruption.
LoopStepCallback = Callable[[int, SamplerStep], None]


@dataclass
class GenerationModels:
    """The four parts of a generation run, where they work, and the transformer's step cache
    (off by default; it counts transformer calls and sampling time either way)."""

    transformer: torch.nn.Module
    vae: object
    text_encoder: object
    sampler: Sampler
    placement: Placement = field(default_factory=Placement)
    step_cache: StepCache = field(default_factory=StepCache)

    @property
    def release(self) -> str:
        """Open-Sora release of the transformer: "1.0", "1.1" or "1.2"."""
        return self.transformer.opensora_version


def decoded_size(image_size: "Sequence[int]") -> "tuple[int, int]":
    """Height and width the VAE decodes to: `image_size` rounded down to multiples of 8.

    Open-Sora's sizes such as 240x426 decode to 240x424; references are loaded at this
    size so that their latents line up with the generated ones (the reference's
    encode of a 426-wide image gives one latent column too many).
    """
    height, width = image_size
    return height // SPATIAL_FACTOR * SPATIAL_FACTOR, width // SPATIAL_FACTOR * SPATIAL_FACTOR


@dataclass(frozen=True)
class ClipSettings:
    """What every clip of a batch shares: pixel size, frame count, fps conditioning, loops."""

    image_size: "tuple[int, int]"
    num_frames: int
    fps: float = 24
    multi_resolution: "str | None" = "STDiT2"
    long_video: LongVideoSettings = field(default_factory=LongVideoSettings)
    guidance_scale: "float | None" = None
    transform_name: str = "resize_crop"

    @property
    def decoded_size(self) -> "tuple[int, int]":
        """Height and width the VAE decodes this clip to (see `decoded_size`)."""
        return decoded_size(self.image_size)


@dataclass
class BatchResult:
    """Stitched videos (B, 3, T, H, W) float32 on the CPU, the prompts used and each loop's record."""

    video: torch.Tensor
    encoding: PromptEncoding
    loops: "list[LoopRecord]"


def default_clip_settings(release: str, **values) -> ClipSettings:
    """`ClipSettings` with the release's size conditioning and long-video bookkeeping."""
    values.setdefault("multi_resolution", MULTI_RESOLUTION[release])
    long_video = values.pop("long_video", None) or LongVideoSettings(
        version="1.2" if release == "1.2" else "1.1"
    )
    return ClipSettings(long_video=long_video, **values)


def encode_reference_sources(
    codec: PlacedCodec,
    sources: "Sequence[str | Sequence[ReferenceSource] | None]",
    image_size: "Sequence[int]",
    transform_name: str = "resize_crop",
) -> "list[list[torch.Tensor]]":
    """Each prompt's references (a `;`-joined path string or a list of paths / IMAGE frames)
    loaded at the size `image_size` decodes to and encoded one by one -> latents (C, T', H', W')."""
    size = decoded_size(image_size)
    pixels = [load_references(source, size, transform_name) for source in sources]
    return encode_references(codec, pixels)


def generate_batch(
    models: GenerationModels,
    prompts: "Sequence[str]",
    settings: ClipSettings,
    noise: "NoiseSource | torch.Generator | int | None" = None,
    *,
    reference_paths: "Sequence[str] | None" = None,
    mask_strategies: "Sequence[MaskStrategy] | None" = None,
    reference_latents: "Sequence[Sequence[torch.Tensor]] | None" = None,
    aesthetic_score: "float | None" = None,
    motion_score: "float | None" = None,
    camera_motion: "str | None" = None,
    callback: "LoopStepCallback | None" = None,
) -> BatchResult:
    """Generate one video per prompt (Open-Sora's inference loop for one batch).

    `noise` is the run's only source of random numbers (a seed, a CPU generator or a
    replay). References come from `reference_latents` (already encoded), else from
    `reference_paths` / the prompts' JSON extras (files loaded and encoded here).
    `mask_strategies[i]` (string or `ConditionFrames` list) overrides prompt i's.
    """
    noise = as_noise_source(noise)
    placement = models.placement
    codec = PlacedCodec(models.vae, placement, noise)
    given = list(mask_strategies or [])
    # Strings go through the prompt path (a prompt's JSON may replace them); typed groups win.
    strings = [strategy if isinstance(strategy, str) else "" for strategy in given]
    encoding = encode_prompts(
        models.text_encoder,
        models.transformer,
        prompts,
        loops=settings.long_video.loop,
        release=models.release,
        aesthetic_score=aesthetic_score,
        motion_score=motion_score,
        camera_motion=camera_motion,
        reference_paths=reference_paths,
        mask_strategies=strings or None,
        device=placement.device,
    )
    strategies: list[MaskStrategy] = [
        typed if typed is not None and not isinstance(typed, str) else prepared
        for typed, prepared in zip(
            given + [None] * (encoding.batch_size - len(given)),
            encoding.prompts.mask_strategies,
            strict=True,
        )
    ]
    if reference_latents is None:
        reference_latents = encode_reference_sources(
            codec, encoding.prompts.reference_paths, settings.decoded_size, settings.transform_name
        )
    batch = encoding.batch_size
    latent_size = codec.get_latent_size([settings.num_frames, *settings.image_size])
    model_kwargs = size_conditioning(
        batch,
        settings.image_size,
        settings.num_frames,
        settings.fps,
        settings.multi_resolution,
        placement.device,
    )

    def draw(loop_index: int) -> torch.Tensor:
        return draw_latent(noise, batch, codec.out_channels, latent_size, placement.device)

    def sample(z, masks, _texts, loop_index: int) -> torch.Tensor:
        step_callback = None if callback is None else (lambda step: callback(loop_index, step))
        with working(models.transformer, placement):
            return sample_latent(
                models.transformer,
                models.sampler,
                encoding.for_loop(loop_index),
                z,
                noise=noise,
                frame_mask=masks,
                model_kwargs=model_kwargs,
                callback=step_callback,
                guidance_scale=settings.guidance_scale,
                step_cache=models.step_cache,
            )

    result = generate_long_video(
        codec,
        sample,
        draw,
        encoding.prompts.texts,
        [list(prompt) for prompt in reference_latents],
        strategies,
        settings.num_frames,
        settings.long_video,
    )
    return BatchResult(result.video, encoding, result.loops)
