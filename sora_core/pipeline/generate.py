"""A batch of prompts to decoded videos: the long-video loop over `sample_latent`.

`generate_batch` is Open-Sora's inference loop body for one batch, and the one route of
every generation (command line, sampler node, long-video node): with the prompts already
encoded, encode the references (VAE on, then off), then per loop draw the latent, write
the conditions in, sample (transformer on, then off) and decode (VAE on, then off),
stitching the clips into one video per prompt.
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
from .reference_lengths import check_reference_lengths
from .sampling import MULTI_RESOLUTION, draw_latent, sample_latent, size_conditioning
from .text import PromptEncoding

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
        return self.transformer.release


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
    """Stitched videos (B, 3, T, H, W) float32 on the CPU (None when not decoded), the last
    loop's latent (B, C, T, H, W), the prompts used and each loop's record."""

    video: "torch.Tensor | None"
    latent: torch.Tensor
    encoding: PromptEncoding
    loops: "list[LoopRecord]"


def default_clip_settings(release: str, **values) -> ClipSettings:
    """`ClipSettings` with the release's size conditioning and long-video bookkeeping."""
    values.setdefault("multi_resolution", MULTI_RESOLUTION[release])
    long_video = values.pop("long_video", None) or LongVideoSettings(
        release="1.2" if release == "1.2" else "1.1"
    )
    return ClipSettings(long_video=long_video, **values)


def load_reference_media(
    sources: "Sequence[str | Sequence[ReferenceSource] | None]", settings: ClipSettings
) -> "list[list[torch.Tensor]]":
    """Each prompt's references (a `;`-joined path string or a list of paths / IMAGE frames)
    as pixels (3, T, H, W) at the size the clip decodes to, ready for `generate_batch`."""
    return [
        load_references(source, settings.decoded_size, settings.transform_name)
        for source in sources
    ]


def generate_batch(
    models: GenerationModels,
    encoding: PromptEncoding,
    settings: ClipSettings,
    noise: "NoiseSource | torch.Generator | int | None" = None,
    *,
    references: "Sequence[Sequence[torch.Tensor]] | None" = None,
    mask_strategies: "Sequence[MaskStrategy] | None" = None,
    callback: "LoopStepCallback | None" = None,
    decode: bool = True,
) -> BatchResult:
    """Generate one clip or long video per prompt (Open-Sora's inference loop for one batch).

    The one route of every generation: the command line and both sampler nodes call it.
    `encoding` holds the prompts, prepared and encoded once (`encode_prompts`); `noise` is
    the run's only source of random numbers (a seed, a CPU generator or a replay).
    `references[i]` are prompt i's reference pixels (`load_reference_media`), encoded here
    first; `mask_strategies[i]` (string or `ConditionFrames` list) replaces the prepared
    prompt's. `decode=False` keeps a single loop's latent without decoding it.
    """
    noise = as_noise_source(noise)
    placement = models.placement
    codec = PlacedCodec(models.vae, placement, noise)
    batch = encoding.batch_size
    strategies = list(
        encoding.prompts.mask_strategies if mask_strategies is None else mask_strategies
    )
    references = references or [[] for _ in range(batch)]
    if settings.long_video.strict:
        check_reference_lengths(
            codec,
            references,
            strategies,
            settings.num_frames,
            settings.fps,
            settings.long_video.align,
        )
    reference_latents = encode_references(codec, references)
    latent_size = codec.get_latent_size([settings.num_frames, *settings.image_size])
    transformer = models.transformer
    if hasattr(transformer, "reset_position_tables") and transformer.grid != tuple(
        size // patch for size, patch in zip(latent_size, transformer.patch_size)
    ):
        transformer.set_input_size(latent_size)  # fixed tables follow the requested size
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
                encoding.conditioning(loop_index, models.transformer, placement.device),
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
        reference_latents,
        strategies,
        settings.num_frames,
        settings.long_video,
        decode=decode,
    )
    return BatchResult(result.video, result.latent, encoding, result.loops)
