"""Each Open-Sora release's way from a typed prompt to the text T5 encodes.

* 1.0: the whole prompt is cleaned (the reference cleaned inside its encoder).
* 1.1: the JSON extras are cut off, then every `|i|` loop segment is cleaned.
* 1.2: as 1.1, but the aesthetic / motion score and camera motion captions are appended
  to each segment before cleaning.

Order matters: cleaning turns `|`, `{` and `}` into spaces, so JSON extraction and loop
splitting come first. `texts_for_loop` then picks each prompt's text for one loop.
"""

from dataclasses import dataclass

from ..errors import ConfigError
from ..prompts import (
    append_scores,
    extract_json_from_prompts,
    merge_loop_prompt,
    prompts_for_loop,
    split_loop_prompt,
)
from .cleaning import text_preprocessing

RELEASES = ("1.0", "1.1", "1.2")


@dataclass(frozen=True)
class PreparedPrompts:
    """Cleaned prompts (loop syntax kept, `|0|a|2|b`) with each one's JSON extras."""

    texts: "list[str]"
    reference_paths: "list[str]"
    mask_strategies: "list[str]"

    def for_loop(self, loop_index: int) -> "list[str]":
        """The text each prompt gives for loop `loop_index` (what the encoder receives)."""
        return prompts_for_loop(self.texts, loop_index)


def _check_release(release: str, scores: dict) -> str:
    release = str(release)
    if release not in RELEASES:
        raise ConfigError(f"release: unknown value {release!r}; expected one of {RELEASES}")
    given = [name for name, value in scores.items() if value is not None]
    if given and release != "1.2":
        raise ConfigError(
            f"{given}: score and camera-motion captions exist only in Open-Sora 1.2, not in "
            f"release {release!r}"
        )
    return release


def prepare_prompts(
    prompts: "list[str]",
    release: str = "1.2",
    aesthetic_score: "float | None" = None,
    motion_score: "float | None" = None,
    camera_motion: "str | None" = None,
    clean: bool = True,
    reference_paths: "list[str] | None" = None,
    mask_strategies: "list[str] | None" = None,
) -> PreparedPrompts:
    """Apply the release's prompt path (JSON, loop segments, scores, cleaning) to a batch."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    release = _check_release(
        release,
        {
            "aesthetic_score": aesthetic_score,
            "motion_score": motion_score,
            "camera_motion": camera_motion,
        },
    )
    references = list(reference_paths or [""] * len(prompts))
    strategies = list(mask_strategies or [""] * len(prompts))
    if release == "1.0":
        texts = [text_preprocessing(prompt, clean) for prompt in prompts]
        return PreparedPrompts(texts, references, strategies)
    bare, references, strategies = extract_json_from_prompts(prompts, references, strategies)
    texts = []
    for prompt in bare:
        segments, loop_indices = split_loop_prompt(prompt)
        segments = [
            text_preprocessing(
                append_scores(segment, aesthetic_score, motion_score, camera_motion), clean
            )
            for segment in segments
        ]
        texts.append(merge_loop_prompt(segments, loop_indices))
    return PreparedPrompts(texts, references, strategies)
