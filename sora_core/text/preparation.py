"""Each Open-Sora release's way from a typed prompt to the text T5 encodes.

* 1.0: the whole prompt is cleaned (the reference cleaned inside its encoder).
* 1.1: the JSON extras are cut off, then every `|i|` loop segment is cleaned.
* 1.2: as 1.1, but the aesthetic / motion score and camera motion captions are appended
  to each segment before cleaning.

Order matters: cleaning turns `|`, `{` and `}` into spaces, so JSON extraction and loop
splitting come first. `PreparedPrompts.for_loop` then picks each prompt's text for one loop;
`PromptOptions` is the record of a release's options that travels with the prompts.
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
class PromptOptions:
    """How a release prepares prompts: the release and 1.2's score and camera captions."""

    release: str = "1.2"
    aesthetic_score: "float | None" = None
    motion_score: "float | None" = None
    camera_motion: "str | None" = None

    def __post_init__(self) -> None:
        release = str(self.release)
        if release not in RELEASES:
            raise ConfigError(f"release: unknown value {release!r}; expected one of {RELEASES}")
        object.__setattr__(self, "release", release)
        captions = {
            "aesthetic_score": self.aesthetic_score,
            "motion_score": self.motion_score,
            "camera_motion": self.camera_motion,
        }
        given = [name for name, value in captions.items() if value is not None]
        if given and release != "1.2":
            raise ConfigError(
                f"{given}: score and camera-motion captions exist only in Open-Sora 1.2, not in "
                f"release {release!r}"
            )


@dataclass(frozen=True)
class PreparedPrompts:
    """Cleaned prompts (loop syntax kept, `|0|a|2|b`) with each one's JSON extras."""

    texts: "list[str]"
    reference_paths: "list[str]"
    mask_strategies: "list[str]"
    options: PromptOptions = PromptOptions()

    def for_loop(self, loop_index: int) -> "list[str]":
        """The text each prompt gives for loop `loop_index` (what the encoder receives)."""
        return prompts_for_loop(self.texts, loop_index)

    @property
    def distinct_loops(self) -> int:
        """Loops until every prompt's last segment has begun (later loops repeat the last)."""
        starts = [split_loop_prompt(text)[1] or [0] for text in self.texts]
        return max(max(indices) for indices in starts) + 1


def prepare_prompts(
    prompts: "list[str]",
    options: "PromptOptions | None" = None,
    clean: bool = True,
    reference_paths: "list[str] | None" = None,
    mask_strategies: "list[str] | None" = None,
) -> PreparedPrompts:
    """Apply the release's prompt path (JSON, loop segments, scores, cleaning) to a batch."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    options = options or PromptOptions()
    references = list(reference_paths or [""] * len(prompts))
    strategies = list(mask_strategies or [""] * len(prompts))
    if options.release == "1.0":
        texts = [text_preprocessing(prompt, clean) for prompt in prompts]
        return PreparedPrompts(texts, references, strategies, options)
    bare, references, strategies = extract_json_from_prompts(prompts, references, strategies)
    texts = []
    for prompt in bare:
        segments, loop_indices = split_loop_prompt(prompt)
        segments = [
            text_preprocessing(
                append_scores(
                    segment, options.aesthetic_score, options.motion_score, options.camera_motion
                ),
                clean,
            )
            for segment in segments
        ]
        texts.append(merge_loop_prompt(segments, loop_indices))
    return PreparedPrompts(texts, references, strategies, options)
