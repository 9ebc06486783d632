"""How often the embedded demo model shows what it is asked for, read from decoded pixels.

    python -m sora_core.demo.evaluate --seeds 4

generates every held-out colour-shape-direction combination and as many training ones
(each on both backgrounds, `--seeds` noise seeds each), reads each clip back with
`analysis.read_clip` and prints the pass rates of colour, shape and direction for seen and
held-out prompts, then image-to-video and extend rates. The semantic tests call the same
functions on fewer samples.
"""

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..conditioning import LongVideoSettings, frame_bookkeeping
from ..pipeline import (
    ClipSettings,
    GenerationModels,
    Placement,
    default_clip_settings,
    encode_prompts,
    generate_batch,
    load_reference_media,
)
from ..text import prepare_prompts
from .analysis import ClipReading, foreground_masks, read_clip
from .embedded import MODEL_DIR, embedded_config, load_embedded_models
from .shapes import (
    BACKGROUNDS,
    DIRECTIONS,
    HELD_OUT,
    SPEED,
    Scene,
    caption,
    render_clip,
    training_combos,
)

FIELDS = ("colour", "shape", "direction")
AXES = {"left": "horizontal", "right": "horizontal", "up": "vertical", "down": "vertical"}
# Image-to-video and extend keep their given frames: mean absolute error (0-255) below this.
KEPT_FRAME_ERROR = 16.0
IMAGE_TO_VIDEO = "0"  # the reference's first frame becomes the clip's first frame
# Extend: a 4-frame clip's last 2 frames open the new clip ("loop, ref, ref start, target
# start, length").
EXTEND_GIVEN, EXTEND_KEPT = 4, 2
EXTEND = f"0,0,{EXTEND_GIVEN - EXTEND_KEPT},0,{EXTEND_KEPT}"


@dataclass(frozen=True)
class DemoSession:
    """The embedded model, loaded once, and the clip it was trained to make."""

    models: GenerationModels
    clip: ClipSettings


def load_demo(
    model_dir: Path = MODEL_DIR, threads: int = 1, num_sampling_steps: "int | None" = None
) -> DemoSession:
    """The embedded model (or a build of it in `model_dir`) on the CPU in fp32, at its
    trained size and length (and its sampling steps unless `num_sampling_steps` is given)."""
    torch.set_num_threads(threads)
    config = embedded_config(model_dir)
    models = load_embedded_models(
        Placement.create("cpu", "fp32"), num_sampling_steps, model_dir=model_dir
    )
    clip = default_clip_settings(
        "1.2",
        image_size=config["image_size"],
        num_frames=config["num_frames"],
        fps=config["fps"],
        long_video=LongVideoSettings(
            condition_frame_length=config["condition_frame_length"],
            release=frame_bookkeeping("1.2", per_frame_vae=True),
        ),
    )
    return DemoSession(models, clip)


def to_frames(video: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] -> (B, T, H, W, 3) uint8, as a saved clip holds them."""
    pixels = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 4, 1).cpu().numpy()


def generate(
    session: DemoSession,
    scenes: Sequence[Scene],
    seed: int,
    references: "Sequence[np.ndarray] | None" = None,
    mask_strategy: "str | None" = None,
) -> np.ndarray:
    """One clip per scene (its caption as the prompt), in one batch -> (B, T, H, W, 3) uint8.

    `references[i]` (T, H, W, 3) uint8 frames condition scene i through `mask_strategy`.
    """
    prompts = prepare_prompts([caption(scene) for scene in scenes])
    encoding = encode_prompts(session.models.text_encoder, prompts, 1, "cpu")
    sources = None
    if references is not None:
        frames = [[torch.from_numpy(clip).float() / 255] for clip in references]
        sources = load_reference_media(frames, session.clip)
    strategies = None if mask_strategy is None else [mask_strategy] * len(scenes)
    result = generate_batch(
        session.models,
        encoding,
        session.clip,
        noise=seed,
        references=sources,
        mask_strategies=strategies,
    )
    return to_frames(result.video)


def pass_rates(scenes: Sequence[Scene], readings: Sequence[ClipReading]) -> "dict[str, float]":
    """Fraction of clips whose reading matches the scene, per field."""
    rates = {
        field: float(
            np.mean([getattr(r, field) == getattr(s, field) for s, r in zip(scenes, readings)])
        )
        for field in FIELDS
    }
    # A wrong direction on the right axis is the clip played backwards: the STDiT3 knows
    # frame order only through its temporal RoPE (no absolute frame position).
    rates["axis"] = float(
        np.mean([AXES.get(r.direction) == AXES[s.direction] for s, r in zip(scenes, readings)])
    )
    return rates


def prompt_scenes(combos: Sequence[tuple[str, str, str]]) -> "list[Scene]":
    """Every combination on every background."""
    return [Scene(*combo, background) for combo in combos for background in BACKGROUNDS]


def seen_sample(count: int, seed: int = 0) -> "list[tuple[str, str, str]]":
    """`count` training combinations drawn without repeats (fixed by `seed`)."""
    combos = training_combos()
    chosen = np.random.default_rng(seed).choice(len(combos), size=count, replace=False)
    return [combos[i] for i in sorted(chosen)]


def rendered_clips(scenes: Sequence[Scene], num_frames: int, size, seed: int) -> np.ndarray:
    """Rendered clips of `scenes` (B, T, H, W, 3): the pixels a user would give as references."""
    rng = np.random.default_rng(seed)
    return np.stack([render_clip(scene, num_frames, *size, rng) for scene in scenes])


def evaluate_text_to_video(
    session: DemoSession, scenes: Sequence[Scene], seeds: Sequence[int]
) -> "dict[str, float]":
    """Pass rates of text-to-video over `scenes` x `seeds`."""
    readings = []
    for seed in seeds:
        readings += [read_clip(clip) for clip in generate(session, scenes, seed)]
    return pass_rates([s for _ in seeds for s in scenes], readings)


def _kept(generated: np.ndarray, given: np.ndarray) -> bool:
    error = np.abs(generated.astype(np.float32) - given.astype(np.float32)).mean()
    return bool(error < KEPT_FRAME_ERROR)


def evaluate_image_to_video(
    session: DemoSession, scenes: Sequence[Scene], seed: int
) -> "dict[str, float]":
    """Each scene's first frame given (`IMAGE_TO_VIDEO`): pass rates of colour, shape and
    direction, and `kept`, how often the clip opens with the given frame."""
    num_frames, size = session.clip.num_frames, session.clip.image_size
    first = rendered_clips(scenes, num_frames, size, seed)[:, :1]
    clips = generate(session, scenes, seed, references=list(first), mask_strategy=IMAGE_TO_VIDEO)
    rates = pass_rates(scenes, [read_clip(clip) for clip in clips])
    rates["kept"] = float(np.mean([_kept(c[0], f[0]) for c, f in zip(clips, first)]))
    return rates


def _travel(frames: np.ndarray, scene: Scene, start: int) -> float:
    """Pixels the foreground centroid moved along the scene's direction from frame `start`."""
    masks = foreground_masks(frames, scene.background)
    if not masks[start].any() or not masks[-1].any():
        return 0.0
    dy, dx = np.argwhere(masks[-1]).mean(axis=0) - np.argwhere(masks[start]).mean(axis=0)
    step_x, step_y = DIRECTIONS[scene.direction]
    return float(dx * step_x + dy * step_y)


def evaluate_extend(session: DemoSession, scenes: Sequence[Scene], seed: int) -> "dict[str, float]":
    """Each scene's 4-frame clip extended (`EXTEND`): `kept` (the new clip opens with the
    given clip's last frames), `direction` (it moves the same way) and `continues` (after
    the kept frames it travels at least half the distance the given clip's speed covers)."""
    num_frames, size = session.clip.num_frames, session.clip.image_size
    # the whole path fits the frame: the given clip, then the rest of the new one
    paths = rendered_clips(scenes, EXTEND_GIVEN - EXTEND_KEPT + num_frames, size, seed)
    given = paths[:, :EXTEND_GIVEN]
    clips = generate(session, scenes, seed, references=list(given), mask_strategy=EXTEND)
    expected = SPEED * min(size) * (num_frames - EXTEND_KEPT)
    start = EXTEND_KEPT - 1
    return {
        "kept": float(
            np.mean([_kept(c[:EXTEND_KEPT], g[-EXTEND_KEPT:]) for c, g in zip(clips, given)])
        ),
        "direction": float(
            np.mean([read_clip(c).direction == s.direction for c, s in zip(clips, scenes)])
        ),
        "continues": float(
            np.mean([_travel(c, s, start) >= expected / 2 for c, s in zip(clips, scenes)])
        ),
    }


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sora_core.demo.evaluate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seeds", type=int, default=2, help="noise seeds per prompt")
    parser.add_argument("--model-dir", default=str(MODEL_DIR), help="a build to evaluate")
    args = parser.parse_args(argv)
    session = load_demo(Path(args.model_dir))
    seeds = list(range(args.seeds))
    held_out = prompt_scenes(HELD_OUT)
    seen = prompt_scenes(seen_sample(len(HELD_OUT)))
    started = time.perf_counter()
    print("| prompts | clips | colour | shape | direction | axis |\n|---|---|---|---|---|---|")
    for name, scenes in (("seen", seen), ("held out", held_out)):
        rates = evaluate_text_to_video(session, scenes, seeds)
        cells = " | ".join(f"{rates[field]:.0%}" for field in (*FIELDS, "axis"))
        print(f"| {name} | {len(scenes) * len(seeds)} | {cells} |")
    for name, evaluate in (
        ("image to video", evaluate_image_to_video),
        ("extend", evaluate_extend),
    ):
        rates = {}
        for seed in seeds:
            for key, value in evaluate(session, seen + held_out, seed).items():
                rates[key] = rates.get(key, 0.0) + value / len(seeds)
        print(
            f"{name} ({len(seen + held_out) * len(seeds)} clips): "
            + ", ".join(f"{key} {value:.0%}" for key, value in rates.items())
        )
    print(f"({time.perf_counter() - started:.0f} s on {torch.get_num_threads()} CPU thread(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
