"""A generation run checked before any model is loaded: sizes, prompts, references, names.

`plan_generation(config)` turns a merged inference config (see `generate_config`) into a
`GenerationPlan`: the video size and frame count the models can take, the prompt batches
prepared once, with their references and mask strategies (files loaded once for the run,
strategies placed against the real latent lengths), the sample names, and the model configs with local checkpoint
paths. Everything that can be wrong with a request is reported here, naming the setting
and what would work, before minutes are spent loading weights.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..acceleration import Acceleration
from ..conditioning import (
    LongVideoSettings,
    frame_bookkeeping,
    load_references,
    parse_mask_strategy,
)
from ..conditioning.apply import plan_conditions
from ..errors import (
    CheckpointError,
    ConfigError,
    MaskStrategyError,
    ReferenceMediaError,
    VideoShapeError,
)
from ..geometry import MAX_FRAMES, get_image_size, get_num_frames, latent_size
from ..models import model_class
from ..naming import save_path_name
from ..pipeline.generate import ClipSettings, default_clip_settings
from ..pipeline.loading import resolved_configs
from ..pipeline.placement import Placement
from ..prompts import extract_prompt_json
from ..samplers import build_scheduler
from ..text import PreparedPrompts, PromptOptions, prepare_prompts

SPATIAL_MULTIPLE = 8  # the VAEs' downsampling: smaller sides cannot be generated
# Open-Sora 1.2's timestep transform counts `num_frames // 17 * 5` latent frames: 2 to 16
# frames give 0, which sends every sampling timestep to 0 (pure noise comes out).
SHORTEST_VIDEO_V12 = 17
# Planning lists every sample's name up front: bounds keep a typo from hanging it.
MAX_BATCH = 256
MAX_SAMPLES = 1000


@dataclass(frozen=True)
class SampleBatch:
    """Prompts generated together, prepared once, with their references and output names."""

    prompts: PreparedPrompts  # texts, reference paths and mask strategies, release options
    references: "list[list[torch.Tensor]]"  # [prompt][reference] -> pixels (3, T, H, W)
    save_stems: "list[list[str]]"  # [sample k][prompt] -> path without extension


@dataclass(frozen=True)
class GenerationPlan:
    """Everything a run needs, checked: sizes, batches, names, settings and model configs."""

    release: str
    clip: ClipSettings
    batches: "list[SampleBatch]"
    num_sample: int
    seed: int
    save_fps: float
    placement: Placement
    models: dict  # model / vae / text_encoder / scheduler configs, local paths
    prompt_as_path: bool
    verbose: int
    acceleration: Acceleration = Acceleration()
    loras: "tuple[tuple[Path, float], ...]" = ()  # adapter files and strengths, in order

    @property
    def total_frames(self) -> int:
        """Frames of each saved video (all loops stitched)."""
        return self.clip.long_video.total_frames(self.clip.num_frames)

    @property
    def num_videos(self) -> int:
        """Videos the run writes."""
        return sum(len(batch.prompts) for batch in self.batches) * self.num_sample


def load_prompts(path: str, start: int = 0, end: "int | None" = None) -> "list[str]":
    """One prompt per line of a text file, stripped, from line `start` up to `end`."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"prompt_path {path!r} cannot be read: {error.strerror}") from None
    prompts = [line.strip() for line in lines][start:end]
    if not prompts:
        raise ConfigError(
            f"prompt_path {path!r} gives no prompt between lines {start} and {end} "
            f"(it has {len(lines)} lines)"
        )
    return prompts


def _prompts(config: dict) -> "list[str]":
    prompts = config.get("prompt")
    if isinstance(prompts, str):
        prompts = [prompts]
    if prompts is None:
        if config.get("prompt_path") is None:
            raise ConfigError(
                "no prompt: give --prompt 'a red fox in the snow' (one or more), "
                "--prompt-path prompts.txt, or prompt / prompt_path in the config"
            )
        return load_prompts(
            config["prompt_path"], config.get("start_index") or 0, config.get("end_index")
        )
    if not prompts or not all(isinstance(prompt, str) for prompt in prompts):
        raise ConfigError(f"prompt = {prompts!r}: expected a list of strings")
    return list(prompts)


def _per_prompt(config: dict, key: str, count: int) -> "list[str]":
    values = config.get(key)
    if values is None:
        return [""] * count
    values = [values] if isinstance(values, str) else list(values)
    if len(values) != count:
        raise ConfigError(
            f"{key} has {len(values)} entries for {count} prompts: give one per prompt "
            "('' for none), or put it in the prompt's JSON extras"
        )
    return ["" if value is None else str(value) for value in values]


def _image_size(config: dict) -> "tuple[int, int]":
    if config.get("image_size") is not None:
        size = tuple(int(side) for side in config["image_size"])
    elif config.get("resolution") and config.get("aspect_ratio"):
        size = get_image_size(config["resolution"], config["aspect_ratio"])
    else:
        raise ConfigError(
            "the video size is not set: give image_size (--image-size H W) or resolution "
            "and aspect_ratio (--resolution 240p --aspect-ratio 9:16)"
        )
    if len(size) != 2 or any(side < SPATIAL_MULTIPLE for side in size):
        raise VideoShapeError(f"image_size = {size}: expected (height, width), each at least 8")
    return size


def _num_frames(config: dict, release: str) -> int:
    num_frames = get_num_frames(config.get("num_frames", 1))
    if not 1 <= num_frames <= MAX_FRAMES:
        raise VideoShapeError(
            f"num_frames = {num_frames}: 1 to {MAX_FRAMES} frames per clip "
            "(longer videos: loop = N)"
        )
    transform = config["scheduler"].get("use_timestep_transform", False)
    if release == "1.2" and transform and 1 < num_frames < SHORTEST_VIDEO_V12:
        raise VideoShapeError(
            f"num_frames = {num_frames}: for clips of 2-{SHORTEST_VIDEO_V12 - 1} frames, Open-Sora "
            "1.2's timestep transform leaves no sampling steps; use 1 (an image) or "
            f"{SHORTEST_VIDEO_V12} or more, e.g. 17, 34, 51 (2s), 102 (4s)"
        )
    return num_frames


def _long_video(config: dict, release: str) -> LongVideoSettings:
    return LongVideoSettings(
        loop=int(config.get("loop") or 1),
        condition_frame_length=int(config.get("condition_frame_length", 5)),
        condition_frame_edit=float(config.get("condition_frame_edit") or 0.0),
        align=config.get("align"),
        release=frame_bookkeeping(release, config["vae"]["type"] == "VideoAutoencoderKL"),
    )


def _load_conditioning(
    reference_path: str,
    strategy: str,
    prompt_index: int,
    clip: ClipSettings,
    vae_type: str,
) -> "list[torch.Tensor]":
    """Load every reference (once, for the run) and place every group against the real
    latent lengths."""
    try:
        references = load_references(reference_path, clip.decoded_size, clip.transform_name)
        parse_mask_strategy(strategy)
        frames = latent_size([clip.num_frames, *clip.image_size], vae_type)[0]
        lengths = [latent_size(list(r.shape[1:]), vae_type)[0] for r in references]
        for loop_index in range(clip.long_video.loop):
            # Loop i > 0 also sees the i clips generated before it as references.
            available = lengths + [frames] * loop_index
            plan_conditions(strategy, frames, available, loop_index, clip.long_video.align)
        return references
    except (MaskStrategyError, ReferenceMediaError) as error:
        raise type(error)(f"prompt {prompt_index}: {error}") from None


def parse_lora(spec: str) -> "tuple[Path, float]":
    """`PATH[:STRENGTH]` -> (existing file, strength); a drive letter's colon is no strength.

    PATH is an adapter file or a LoRA run's checkpoint folder (its `lora.safetensors`)."""
    from ..lora.files import lora_file

    text = str(spec)
    head, colon, tail = text.rpartition(":")
    path, strength = text, 1.0
    if colon and head:
        try:
            path, strength = head, float(tail)
        except ValueError:
            pass  # the colon belongs to the path (C:\\...)
    try:
        return lora_file(path), strength
    except CheckpointError as error:
        raise ConfigError(f"lora {spec!r}: {error} (expected --lora PATH[:STRENGTH])") from None


def _loras(config: dict) -> "tuple[tuple[Path, float], ...]":
    specs = config.get("lora") or []
    if isinstance(specs, str) or not isinstance(specs, (list, tuple)):
        specs = [specs]
    if not all(isinstance(spec, (str, os.PathLike)) for spec in specs):
        raise ConfigError(f"lora = {specs!r}: expected a list of 'PATH[:STRENGTH]' strings")
    return tuple(parse_lora(spec) for spec in specs)


def _save_stems(config: dict, names: "list[str]", first_index: int, num_sample: int):
    save_dir = config.get("save_dir") or "./samples/samples/"
    stems = []
    for k in range(num_sample):
        stems.append(
            [
                save_path_name(
                    save_dir,
                    sample_name=config.get("sample_name"),
                    sample_index=first_index + index,
                    # A prompt used as a file name stays inside save_dir.
                    prompt=name.replace("/", "_").replace(os.sep, "_"),
                    prompt_as_path=bool(config.get("prompt_as_path")),
                    num_sample=num_sample,
                    k=k,
                )
                for index, name in enumerate(names)
            ]
        )
    return stems


# Keys a `model` dict may hold besides the constructor arguments (see `models.build_model`).
MODEL_EXTRA_KEYS = {"type", "from_pretrained", "grad_checkpoint"}


def _check_model_sections(config: dict) -> str:
    """The release the `model` dict names; unknown model and VAE keys are errors here."""
    for section in ("model", "vae", "text_encoder", "scheduler"):
        if not isinstance(config.get(section), dict) or "type" not in config[section]:
            raise ConfigError(f"{section}: the config needs a {section} = dict(type=...) entry")
    cls, _ = model_class(config["model"]["type"])
    unknown = sorted(set(config["model"]) - set(cls.DEFAULTS) - MODEL_EXTRA_KEYS)
    if unknown:
        raise ConfigError(
            f"model ({config['model']['type']}): unknown key(s) {unknown}; accepted: "
            f"{sorted(set(cls.DEFAULTS) | MODEL_EXTRA_KEYS)}"
        )
    from ..vae.config import parse_vae_config

    parse_vae_config(config["vae"])
    build_scheduler(config["scheduler"], release=cls.release)
    return cls.release


def plan_generation(config: dict) -> GenerationPlan:
    """Check a merged inference config and lay out the run; no model is loaded."""
    release = _check_model_sections(config)
    vae_type = config["vae"]["type"]
    image_size = _image_size(config)
    num_frames = _num_frames(config, release)
    fps = config.get("fps", 24)
    clip = default_clip_settings(
        release,
        image_size=image_size,
        num_frames=num_frames,
        fps=fps,
        multi_resolution=config.get("multi_resolution", "STDiT2" if release != "1.0" else None),
        long_video=_long_video(config, release),
    )
    clip.long_video.total_frames(num_frames)  # a loop that cannot stitch fails here
    latent_size([num_frames, *image_size], vae_type)  # the VAE type is known

    prompts = _prompts(config)
    references = _per_prompt(config, "reference_path", len(prompts))
    strategies = _per_prompt(config, "mask_strategy", len(prompts))
    options = PromptOptions(
        release=release,
        aesthetic_score=config.get("aes"),
        motion_score=config.get("flow"),
        camera_motion=config.get("camera_motion"),
    )
    batch_size = int(config.get("batch_size") or 1)
    num_sample = int(config.get("num_sample") or 1)
    if not 1 <= batch_size <= MAX_BATCH or not 1 <= num_sample <= MAX_SAMPLES:
        raise ConfigError(
            f"batch_size = {batch_size}, num_sample = {num_sample}: batch_size 1 to "
            f"{MAX_BATCH}, num_sample 1 to {MAX_SAMPLES}"
        )
    first_index = int(config.get("start_index") or 0)
    batches = []
    for start in range(0, len(prompts), batch_size):
        batch = slice(start, start + batch_size)
        prepared = prepare_prompts(
            prompts[batch],
            options,
            reference_paths=references[batch],
            mask_strategies=strategies[batch],
        )
        media = [
            _load_conditioning(path, strategy, start + offset, clip, vae_type)
            for offset, (path, strategy) in enumerate(
                zip(prepared.reference_paths, prepared.mask_strategies, strict=True)
            )
        ]
        names = [extract_prompt_json(prompt)[0] for prompt in prompts[batch]]
        batches.append(
            SampleBatch(
                prepared, media, _save_stems(config, names, first_index + start, num_sample)
            )
        )

    loras = _loras(config)
    fps_for_saving = config.get("save_fps") or fps // (config.get("frame_interval") or 1)
    models = resolved_configs(config)
    models["scheduler"] = dict(config["scheduler"])
    return GenerationPlan(
        release=release,
        clip=clip,
        batches=batches,
        num_sample=num_sample,
        seed=int(config.get("seed", 1024)),
        save_fps=fps_for_saving,
        placement=Placement.create(config.get("device"), config.get("dtype", "bf16")),
        models=models,
        prompt_as_path=bool(config.get("prompt_as_path")),
        verbose=int(config.get("verbose", 1)),
        acceleration=Acceleration.from_config(config),
        loras=loras,
    )
