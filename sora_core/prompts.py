"""The prompt syntax of Open-Sora's inference: JSON extras, per-loop prompts, score suffixes.

A prompt may end with a JSON object naming its references and mask strategy
(`a car.{"reference_path": "a.png", "mask_strategy": "0"}`), and may give one prompt per
loop of a long video (`|0|a forest.|2|a desert.`: loops 0-1 use the first, 2- the second).
Open-Sora 1.2 appends aesthetic score, motion score and camera motion to the caption.
"""

import json
import re
from dataclasses import dataclass

from .errors import PromptError

PROMPT_JSON_KEYS = ("reference_path", "mask_strategy")
LOOP_PROMPT_PREFIX = "|0|"
# Long videos stop here: 1000 clips of Open-Sora 1.2 (about 4 s each) is over an hour.
MAX_LOOPS = 1000
_LOOP_INDEX = re.compile(r"\s*([0-9]{1,9})\s*")  # ASCII digits: int() also takes '²'-likes


@dataclass(frozen=True)
class PromptExtras:
    """What the JSON appended to a prompt may carry (None where it says nothing)."""

    reference_path: "str | None" = None
    mask_strategy: "str | None" = None


def extract_prompt_json(prompt: str) -> "tuple[str, PromptExtras]":
    """Split `text{json}` into the text and its extras; the text keeps its trailing space."""
    # The reference splits before every `{`; more than one object is an error there too.
    parts = re.split(r"(?=[{])", prompt)
    if len(parts) > 2:
        raise PromptError(
            f"prompt {prompt!r}: at most one JSON object may follow the text, found {len(parts) - 1}"
        )
    if len(parts) == 1:
        return prompt, PromptExtras()
    try:
        extras = json.loads(parts[1])
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        raise PromptError(
            f"prompt {_shown(prompt)}: the JSON after the text is malformed: {error}"
        ) from None
    if not isinstance(extras, dict):
        raise PromptError(f"prompt {prompt!r}: the JSON after the text must be an object")
    unknown = sorted(set(extras) - set(PROMPT_JSON_KEYS))
    if unknown:
        raise PromptError(
            f"prompt {prompt!r}: unknown JSON key(s) {unknown}; allowed: {list(PROMPT_JSON_KEYS)}"
        )
    return parts[0], PromptExtras(**{key: str(value) for key, value in extras.items()})


def extract_json_from_prompts(
    prompts: "list[str]", reference_paths: "list[str]", mask_strategies: "list[str]"
) -> "tuple[list[str], list[str], list[str]]":
    """Batch form of `extract_prompt_json`: JSON values override the given per-prompt lists."""
    references, strategies, texts = list(reference_paths), list(mask_strategies), []
    for index, prompt in enumerate(prompts):
        text, extras = extract_prompt_json(prompt)
        texts.append(text)
        if extras.reference_path is not None:
            references[index] = extras.reference_path
        if extras.mask_strategy is not None:
            strategies[index] = extras.mask_strategy
    return texts, references, strategies


def _loop_fields(prompt: str) -> "list[str]":
    fields = prompt.split("|")[1:]
    for position in range(0, len(fields), 2):
        index = _LOOP_INDEX.fullmatch(fields[position])
        if not index:
            raise PromptError(
                f"per-loop prompt {_shown(prompt)}: {_shown(fields[position])} is not a loop "
                "index; expected |<loop>|<text>|<loop>|<text>... with loop indices 0, 1, 2, ..."
            )
        if int(index[1]) >= MAX_LOOPS:
            raise PromptError(
                f"per-loop prompt {_shown(prompt)}: loop index {int(index[1])} is out of "
                f"range; a long video has at most {MAX_LOOPS} loops (0 to {MAX_LOOPS - 1})"
            )
    if len(fields) % 2:
        raise PromptError(
            f"per-loop prompt {_shown(prompt)}: loop index {fields[-1]!r} has no text after it"
        )
    return fields


def _shown(text: str) -> str:
    """`text` for a message: whole when short, else its start and length."""
    return repr(text) if len(text) <= 200 else f"{text[:100]!r}... ({len(text)} characters)"


def split_loop_prompt(prompt: str) -> "tuple[list[str], list[int] | None]":
    """`|0|a|2|b` -> (["a", "b"], [0, 2]); a plain prompt -> ([prompt], None)."""
    if not prompt.startswith(LOOP_PROMPT_PREFIX):
        return [prompt], None
    fields = _loop_fields(prompt)
    return [text.strip() for text in fields[1::2]], [int(index) for index in fields[0::2]]


def merge_loop_prompt(segments: "list[str]", loop_indices: "list[int] | None" = None) -> str:
    """Inverse of `split_loop_prompt`."""
    if loop_indices is None:
        return segments[0]
    return "".join(f"|{index}|{text}" for index, text in zip(loop_indices, segments, strict=True))


def prompt_for_loop(prompt: str, loop_index: int) -> str:
    """The text a per-loop prompt gives for loop `loop_index` (plain prompts: themselves)."""
    if not prompt.startswith(LOOP_PROMPT_PREFIX):
        return prompt
    fields = _loop_fields(prompt)
    # Each text covers the loops up to the next index; the last covers every later loop.
    # The reference lists one text per loop and indexes that list; counting the loops each
    # text covers gives the same answer (out-of-order indices included) without the list.
    covered = 0
    for position in range(0, len(fields), 2):
        start = int(fields[position])
        end = int(fields[position + 2]) if position + 2 < len(fields) else loop_index + 1
        covered += max(0, end - start)
        if loop_index < covered:
            return fields[position + 1]
    raise PromptError(f"per-loop prompt {_shown(prompt)} gives no text for loop {loop_index}")


def prompts_for_loop(prompts: "list[str]", loop_index: int) -> "list[str]":
    """`prompt_for_loop` over a batch (the reference's `extract_prompts_loop`)."""
    return [prompt_for_loop(prompt, loop_index) for prompt in prompts]


def append_scores(
    prompt: str,
    aesthetic_score: "float | None" = None,
    motion_score: "float | None" = None,
    camera_motion: "str | None" = None,
) -> str:
    """Append Open-Sora 1.2's score and camera captions unless the prompt already has them."""
    if aesthetic_score is not None and "aesthetic score:" not in prompt:
        prompt = f"{prompt} aesthetic score: {aesthetic_score:.1f}."
    if motion_score is not None and "motion score:" not in prompt:
        prompt = f"{prompt} motion score: {motion_score:.1f}."
    if camera_motion is not None and "camera motion:" not in prompt:
        prompt = f"{prompt} camera motion: {camera_motion}."
    return prompt
