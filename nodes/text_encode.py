"""The text encode node: prompt (one line per loop), 1.2 score captions -> encoded conditioning."""

from sora_core.errors import PromptError
from sora_core.prompts import split_loop_prompt
from sora_core.text import RELEASES, PromptOptions, prepare_prompts

from .runtime import intermediate_device
from .spec import COMBO, CONDITIONING, FLOAT, STRING, TEXT_ENCODER, Input, NodeSpec, Output

CAMERA_MOTIONS = (
    "none",
    "static",
    "pan right",
    "pan left",
    "tilt up",
    "tilt down",
    "zoom in",
    "zoom out",
)
OFF = -1.0


def loop_prompt(prompt: str) -> str:
    """Several lines -> Open-Sora's per-loop syntax `|0|line 0|1|line 1`; one line stays as is."""
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    if not lines:
        raise PromptError("prompt: empty; write what the video shows (one line per loop)")
    if len(lines) == 1:
        return lines[0]
    if any(line.startswith("|") for line in lines):
        raise PromptError(
            "prompt: use either one line per loop or the |0|...|2|... syntax on one line, not both"
        )
    return "".join(f"|{index}|{line}" for index, line in enumerate(lines))


def _given(score: float) -> "float | None":
    return None if score == OFF else score


def encode_prompt(
    t5, prompt: str, release: str, aesthetic_score: float, motion_score: float, camera_motion: str
) -> tuple:
    """Apply the release's prompt path and encode each loop's text once -> PromptEncoding."""
    from sora_core.pipeline import encode_prompts

    options = PromptOptions(
        release=release,
        aesthetic_score=_given(aesthetic_score),
        motion_score=_given(motion_score),
        camera_motion=None if camera_motion == "none" else camera_motion,
    )
    prepared = prepare_prompts([loop_prompt(prompt)], options)
    if prepared.reference_paths[0] or prepared.mask_strategies[0]:
        raise PromptError(
            "prompt: its JSON gives reference_path/mask_strategy; in ComfyUI connect the "
            "references to an Open-Sora Mask Strategy node instead"
        )
    t5.managed.load()
    encoding = encode_prompts(t5.encoder, prepared, device=intermediate_device())
    return encoding, "\n".join(split_loop_prompt(prepared.texts[0])[0])


def check_text_inputs(
    release=None, aesthetic_score=None, motion_score=None, camera_motion=None, **_
) -> "bool | str":
    """Score and camera captions exist only in Open-Sora 1.2."""
    if release is not None and release not in RELEASES:
        return f"release: {release!r} is not one of {list(RELEASES)}"
    if camera_motion is not None and camera_motion not in CAMERA_MOTIONS:
        return f"camera_motion: {camera_motion!r} is not one of {list(CAMERA_MOTIONS)}"
    extras = {
        "aesthetic_score": aesthetic_score not in (None, OFF),
        "motion_score": motion_score not in (None, OFF),
        "camera_motion": camera_motion not in (None, "none"),
    }
    used = [name for name, given in extras.items() if given]
    if used and release not in (None, "1.2"):
        return f"{used[0]}: only Open-Sora 1.2 was trained with it; set it off or release to 1.2"
    return True


TEXT_ENCODE = NodeSpec(
    node_id="OpenSoraTextEncode",
    display_name="Open-Sora Text Encode",
    category="Open-Sora/conditioning",
    description="Encodes the prompt with T5 as the chosen Open-Sora release does (JSON extras "
    "cut, captions cleaned, 1.2 score and camera captions appended). Several lines are the "
    "prompts of successive long-video loops; the last line carries on for later loops.",
    inputs=(
        Input("t5", TEXT_ENCODER, "The T5 text encoder from Load Open-Sora T5 Text Encoder."),
        Input(
            "prompt",
            STRING,
            "What the video shows. One line per loop of a long video, or Open-Sora's "
            "|0|first|2|third syntax on one line.",
            default="",
            multiline=True,
        ),
        Input(
            "release",
            COMBO,
            "The Open-Sora release whose prompt handling to follow; match the transformer.",
            default="1.2",
            options=RELEASES,
        ),
        Input(
            "aesthetic_score",
            FLOAT,
            "1.2 only: appends 'aesthetic score: X.' (higher = prettier; 6.5 is typical). -1 = off.",
            default=OFF,
            min=OFF,
            max=10.0,
            step=0.1,
        ),
        Input(
            "motion_score",
            FLOAT,
            "1.2 only: appends 'motion score: X.' (optical-flow strength; 4-10 is typical). "
            "-1 = off.",
            default=OFF,
            min=OFF,
            max=100.0,
            step=0.5,
        ),
        Input(
            "camera_motion",
            COMBO,
            "1.2 only: appends 'camera motion: X.'; none adds nothing.",
            default="none",
            options=CAMERA_MOTIONS,
        ),
    ),
    outputs=(
        Output(CONDITIONING, "conditioning", "The encoded prompt of every loop."),
        Output(STRING, "encoded_text", "The text T5 received, one line per loop segment."),
    ),
    execute=encode_prompt,
    validate=check_text_inputs,
)

SPECS = (TEXT_ENCODE,)
