"""The sampler node (one clip -> LATENT) and the long-video node (all loops -> frames).

Both hand the work to `sora_core.pipeline`; here ComfyUI values become pipeline arguments:
widgets -> clip size, frame count and sampler config; the seed -> the run's noise source;
step callbacks -> ComfyUI's progress bar, previews and interruption.
"""

from collections.abc import Callable

from sora_core.aspect_tables import ASPECT_RATIO_MAP, ASPECT_RATIOS
from sora_core.conditioning import LongVideoSettings, frame_bookkeeping
from sora_core.errors import ConfigError, MaskStrategyError, VideoShapeError
from sora_core.geometry import MAX_FRAMES, get_image_size
from sora_core.samplers import SCHEDULER_TYPES, GeneratorNoise, SamplerStep, build_scheduler

from .runtime import Progress, intermediate_device, previews_enabled
from .spec import (
    COMBO,
    CONDITIONING,
    FLOAT,
    IMAGE,
    INT,
    LATENT,
    MASK_STRATEGY,
    MAX_SEED,
    MODEL,
    VAE,
    VIDEO,
    Input,
    NodeSpec,
    Output,
)
from .vae_nodes import place_vae
from .values import MaskStrategyValue, VideoFrames
from .video_frames import video_to_frames

SAMPLERS = tuple(SCHEDULER_TYPES)
RESOLUTIONS = tuple(ASPECT_RATIOS)


def aspect_label(ratio: str) -> str:
    """The choice shown for Open-Sora's height:width `ratio`: width:height first, as ComfyUI
    users read ratios, and the shape ("9:16" -> "16:9 landscape (H:W 9:16)")."""
    height, width = ratio.split(":")
    if height == width:
        return f"{ratio} square"
    shape = "landscape" if int(height) < int(width) else "portrait"
    return f"{width}:{height} {shape} (H:W {ratio})"


# Label -> Open-Sora's key. Workflows saved before the labels hold the bare H:W keys.
ASPECT_LABELS = {aspect_label(ratio): ratio for ratio in ASPECT_RATIO_MAP}
ASPECT_RATIOS_HW = tuple(ASPECT_RATIO_MAP)


def aspect_ratio_key(choice: str) -> str:
    """Open-Sora's H:W key of an aspect choice: a label, or a key from an older workflow."""
    return ASPECT_LABELS.get(choice, choice)


def clip_size(resolution: str, aspect_ratio: str, width: int, height: int) -> "tuple[int, int]":
    """(height, width): explicit when both are given, else Open-Sora's table entry."""
    if width and height:
        return height, width
    if width or height:
        raise ConfigError("width/height: give both (multiples of 16) or leave both 0")
    return get_image_size(resolution, aspect_ratio_key(aspect_ratio))


def frame_count(num_frames: int, duration: float, fps: float) -> int:
    """Frames to generate: `duration` seconds at `fps` when given, else `num_frames`."""
    if duration <= 0:
        return num_frames
    frames = max(1, round(duration * fps))
    if frames > MAX_FRAMES:
        raise VideoShapeError(
            f"duration: {duration:g} s at {fps:g} fps is {frames} frames; a clip has at most "
            f"{MAX_FRAMES} (e.g. {MAX_FRAMES // max(1, round(fps)):g} s at {fps:g} fps). "
            "For longer videos use the Long Video node's loops"
        )
    return frames


def build_sampler(
    sampler_name: str, steps: int, cfg: float, release: str, trained: "dict | None" = None
):
    """A `sora_core` sampler; rectified flow gets Open-Sora 1.2's timestep transform unless
    the transformer was `trained` without it."""
    config = {"type": sampler_name, "num_sampling_steps": steps, "cfg_scale": cfg}
    if sampler_name.startswith("rflow"):
        config["use_timestep_transform"] = True
        config.update(trained or {})
    return build_scheduler(config, release=release)


def check_conditioning(model, conditioning) -> None:
    """Class ids for a class-conditional transformer, a prompt for the others, prepared the
    way the transformer's release expects."""
    classes = getattr(model.model, "num_classes", None)
    if hasattr(model.model, "num_classes") and classes is None:
        raise ConfigError(
            f"model: {model.name!r} is a {type(model.model).__name__} conditioned on pooled "
            "CLIP captions, which no node encodes (T5 only); run it with opensora-generate "
            "and a 'clip' text encoder"
        )
    if conditioning.for_loop(0).class_labels != (classes is not None):
        takes = "text" if classes is None else f"class labels ({classes} classes)"
        given, node = (
            ("a class label", "Text Encode") if classes is None else ("a prompt", "Class Label")
        )
        raise ConfigError(
            f"conditioning: {given}, but {model.name!r} ({type(model.model).__name__}) is "
            f"conditioned on {takes}; connect Open-Sora {node} to the conditioning input"
        )
    if conditioning.release != model.release:
        raise ConfigError(
            f"release: the prompt was encoded for Open-Sora {conditioning.release}, the "
            f"transformer is {model.release}; set release to {model.release} on the text encode node"
        )


def step_reporter(vae, loops: int, steps: int) -> "Callable[[int, SamplerStep], None]":
    """A (loop, step) callback: progress over loops x steps, latent previews, interruption."""
    progress = Progress(loops * steps)
    preview = previews_enabled()

    def report(loop_index: int, step: SamplerStep) -> None:
        rgb = None
        if preview:
            denoised = step.denoised[:1].float()
            rgb = vae.latent_format.to_rgb(denoised.to(vae.device, vae.dtype).float())
            rgb = rgb[0, :, denoised.shape[2] // 2]
        progress.set(loop_index * step.total + step.index + 1, loops * step.total, rgb)

    return report


def generate(
    model,
    vae,
    conditioning,
    sampler_name,
    steps,
    cfg,
    seed,
    settings,
    mask_strategy,
    decode,
    step_cache=0.0,
):
    """Both nodes' route into `sora_core.pipeline.generate_batch`: ComfyUI's device and
    seed, the mask strategy node's references and groups, progress and previews."""
    from sora_core.acceleration import StepCache
    from sora_core.pipeline import GenerationModels, generate_batch, load_reference_media

    check_conditioning(model, conditioning)
    sampler = build_sampler(sampler_name, steps, cfg, model.release, model.sampler_settings)
    strategy = mask_strategy or MaskStrategyValue()
    references = load_reference_media([list(strategy.references)], settings)
    # The VAE encodes the references and each loop's previous clip, and decodes every clip
    # (batch x clip frames); a reference may be longer than a clip.
    frames = max([settings.num_frames, *(pixels.shape[1] for pixels in references[0])])
    placement = place_vae(
        vae, conditioning.batch_size, frames, *settings.decoded_size, model.managed
    )
    loops = settings.long_video.loop
    return generate_batch(
        GenerationModels(
            model.model, vae.vae, None, sampler, placement, StepCache(step_cache or None)
        ),
        conditioning,
        settings,
        GeneratorNoise(seed),
        references=references,
        mask_strategies=[list(strategy.conditions)],
        callback=step_reporter(vae.vae, loops, steps),
        decode=decode,
    )


def _settings(
    model, vae, resolution, aspect_ratio, width, height, num_frames, duration, fps, **loop
):
    from sora_core.pipeline import default_clip_settings, model_multi_resolution

    frames = frame_count(num_frames, duration, fps)
    long_video = LongVideoSettings(
        release=frame_bookkeeping(model.release, vae.vae.temporal_factor == 1),
        strict=True,
        **loop,
    )
    long_video.total_frames(frames)  # a length that cannot stitch fails before any work
    return default_clip_settings(
        model.release,
        image_size=clip_size(resolution, aspect_ratio, width, height),
        num_frames=frames,
        fps=fps,
        multi_resolution=model_multi_resolution(model.model),
        long_video=long_video,
    )


def sample_clip(
    model,
    vae,
    conditioning,
    sampler_name,
    steps,
    cfg,
    seed,
    resolution,
    aspect_ratio,
    width,
    height,
    num_frames,
    duration,
    fps,
    mask_strategy=None,
    step_cache=0.0,
) -> tuple:
    """One clip: references encoded, conditions written in, sampled -> LATENT."""
    settings = _settings(
        model, vae, resolution, aspect_ratio, width, height, num_frames, duration, fps
    )
    later = [
        group for group in (mask_strategy or MaskStrategyValue()).conditions if group.loop_index > 0
    ]
    if later:
        raise MaskStrategyError(
            f"loop_index: group {later[0]} is for loop {later[0].loop_index}; a single clip "
            "has only loop 0 (use Open-Sora Long Video for more loops)"
        )
    result = generate(
        model,
        vae,
        conditioning,
        sampler_name,
        steps,
        cfg,
        seed,
        settings,
        mask_strategy,
        False,
        step_cache,
    )
    samples = result.latent.to(intermediate_device())
    return ({"samples": samples, "num_frames": settings.num_frames, "fps": float(fps)},)


def generate_long(
    model,
    vae,
    conditioning,
    sampler_name,
    steps,
    cfg,
    seed,
    resolution,
    aspect_ratio,
    width,
    height,
    num_frames,
    duration,
    fps,
    loops,
    condition_frame_length,
    condition_frame_edit,
    mask_strategy=None,
    step_cache=0.0,
) -> tuple:
    """All loops: each clip continues from the previous one's tail; stitched frames out."""
    settings = _settings(
        model,
        vae,
        resolution,
        aspect_ratio,
        width,
        height,
        num_frames,
        duration,
        fps,
        loop=loops,
        condition_frame_length=condition_frame_length,
        condition_frame_edit=condition_frame_edit,
    )
    result = generate(
        model,
        vae,
        conditioning,
        sampler_name,
        steps,
        cfg,
        seed,
        settings,
        mask_strategy,
        True,
        step_cache,
    )
    images = video_to_frames(result.video).to(intermediate_device())
    return images, VideoFrames(images, float(fps))


def _clip_inputs() -> "tuple[Input, ...]":
    return (
        Input("model", MODEL, "The Open-Sora transformer."),
        Input("vae", VAE, "The VAE: sets the latent size, encodes references, gives previews."),
        Input("conditioning", CONDITIONING, "The encoded prompt from Open-Sora Text Encode."),
        Input(
            "sampler_name",
            COMBO,
            "rflow: rectified flow (Open-Sora 1.2); iddpm and dpm-solver: 1.0/1.1; "
            "rflow-heun: second-order rectified flow (extra, 2 model calls per step).",
            default="rflow",
            options=SAMPLERS,
        ),
        Input(
            "steps",
            INT,
            "Sampling steps (1.2: 30; 1.0/1.1 iddpm: 100).",
            default=30,
            min=1,
            max=1000,
            step=1,
        ),
        Input(
            "cfg",
            FLOAT,
            "Classifier-free guidance scale (1.2: 7.0, 1.0/1.1: 7.0).",
            default=7.0,
            min=0.0,
            max=50.0,
            step=0.1,
        ),
        Input(
            "seed",
            INT,
            "Seed of every random draw (noise, VAE sampling): the same seed gives the same video "
            "on any device.",
            default=0,
            min=0,
            max=MAX_SEED,
            control_after_generate=True,
        ),
        Input(
            "resolution",
            COMBO,
            "Open-Sora's named resolution (used when width/height are 0).",
            default="240p",
            options=RESOLUTIONS,
        ),
        Input(
            "aspect_ratio",
            COMBO,
            "Frame shape, width:height (Open-Sora's tables write height:width: its 9:16 is "
            "16:9 landscape, e.g. 426x240 at 240p). Used when width/height are 0.",
            default=aspect_label("9:16"),
            options=tuple(ASPECT_LABELS),
            legacy=ASPECT_RATIOS_HW,
        ),
        Input(
            "width",
            INT,
            "Explicit width in pixels (multiple of 16); 0 = from resolution.",
            default=0,
            min=0,
            max=4096,
            step=16,
        ),
        Input(
            "height",
            INT,
            "Explicit height in pixels (multiple of 16); 0 = from resolution.",
            default=0,
            min=0,
            max=4096,
            step=16,
        ),
        Input(
            "num_frames",
            INT,
            "Frames per clip (1.2: 51 = 2 s at 24 fps; 1 = an image).",
            default=51,
            min=1,
            max=MAX_FRAMES,
            step=1,
        ),
        Input(
            "duration",
            FLOAT,
            "Seconds per clip; > 0 overrides num_frames (duration x fps).",
            default=0.0,
            min=0.0,
            max=60.0,
            step=0.5,
        ),
        Input(
            "fps",
            FLOAT,
            "Frame rate the model is conditioned on and the video plays at.",
            default=24.0,
            min=1.0,
            max=120.0,
            step=1.0,
        ),
    )


def _step_cache_input() -> Input:
    return Input(
        "step_cache",
        FLOAT,
        "Step caching (TeaCache): skip transformer calls whose input barely changed, reusing "
        "the last result. 0 = off; 0.2 = about 2x fewer calls; larger skips more.",
        default=0.0,
        min=0.0,
        max=2.0,
        step=0.05,
        optional=True,
    )


def _strategy_input() -> Input:
    return Input(
        "mask_strategy",
        MASK_STRATEGY,
        "References and groups from Open-Sora Mask Strategy (image-to-video, extend, ...).",
        optional=True,
    )


def check_sampling_inputs(
    resolution=None, aspect_ratio=None, width=None, height=None, **_
) -> "bool | str":
    """Explicit sizes given as a pair of multiples of 16, or a ratio the resolution's table has
    (combo values are checked by `validate_values`)."""
    if width is not None and height is not None:
        if bool(width) != bool(height):
            return "width/height: give both or leave both 0 (use resolution and aspect_ratio)"
        for name, value in (("width", width), ("height", height)):
            if value % 16:
                return f"{name}: {value} must be a multiple of 16 (VAE x8, patch x2)"
    if resolution is not None and aspect_ratio is not None and not (width and height):
        try:
            get_image_size(resolution, aspect_ratio_key(aspect_ratio))
        except ConfigError as error:
            return f"aspect_ratio: {error}"
    return True


SAMPLER = NodeSpec(
    node_id="OpenSoraSampler",
    display_name="Open-Sora Sampler",
    category="Open-Sora/sampling",
    description="Generates one clip's latent with the chosen sampler: text-to-video, or "
    "conditioned on references through a mask strategy (image-to-video, connect, keyframes, "
    "extend, edit). Decode it with Open-Sora VAE Decode.",
    inputs=(*_clip_inputs(), _strategy_input(), _step_cache_input()),
    outputs=(
        Output(
            LATENT,
            "latent",
            "The clip's latent {'samples': [B, C, T, H, W]} with its frame count and fps.",
        ),
    ),
    execute=sample_clip,
    validate=check_sampling_inputs,
)

LONG_VIDEO = NodeSpec(
    node_id="OpenSoraLongVideo",
    display_name="Open-Sora Long Video",
    category="Open-Sora/sampling",
    description="Generates a long video as Open-Sora does: clip after clip, each continuing "
    "from the last latent frames of the one before, with per-loop prompts (one line per loop "
    "in the text encode node); decodes and stitches the clips. Progress runs over loops and steps.",
    inputs=(
        *_clip_inputs(),
        Input(
            "loops",
            INT,
            "Number of clips generated one after another.",
            default=2,
            min=1,
            max=64,
            step=1,
        ),
        Input(
            "condition_frame_length",
            INT,
            "Latent frames of the previous clip that open the next one (1.2: 5 = 17 video frames).",
            default=5,
            min=1,
            max=256,
            step=1,
        ),
        Input(
            "condition_frame_edit",
            FLOAT,
            "Edit ratio of those frames: 0 keeps them exactly (1.2 only; 1.1 needs 0).",
            default=0.0,
            min=0.0,
            max=1.0,
            step=0.05,
        ),
        _strategy_input(),
        _step_cache_input(),
    ),
    outputs=(
        Output(IMAGE, "frames", "The stitched video frames [T, H, W, 3] in 0..1."),
        Output(VIDEO, "video", "The same frames as a VIDEO at fps, for Save Video."),
    ),
    execute=generate_long,
    validate=check_sampling_inputs,
)

SPECS = (SAMPLER, LONG_VIDEO)
