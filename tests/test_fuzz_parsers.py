"""Seeded fuzzing of the text grammars users type: every input either parses or raises
one of the project's errors (`SoraError`), never a bare Python exception.

Inputs are mutations of valid examples (characters inserted, deleted, repeated, swapped
for digits, separators, brackets and non-ASCII look-alikes), a few thousand per parser,
all short: each parser call is bounded by the sizes `sora_core` enforces.
"""

import random

import pytest

from sora_core.cli.config_files import load_config
from sora_core.conditioning import parse_mask_strategy
from sora_core.errors import SoraError
from sora_core.prompts import extract_prompt_json, prompt_for_loop, split_loop_prompt

ALPHABET = "0123456789,;|.-+e xa{}[]()\"':=*/%²٣\n\t\\"
CASES = 2000


def _mutations(seeds: "list[str]", count: int, seed: int) -> "list[str]":
    rng = random.Random(seed)
    inputs = []
    for _ in range(count):
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 4)):
            at = rng.randint(0, len(text))
            kind = rng.random()
            if kind < 0.4:
                text = text[:at] + rng.choice(ALPHABET) + text[at:]
            elif kind < 0.6:
                text = text[:at] + text[at + 1 :]
            elif kind < 0.8:
                text = text[:at] + text[at : at + 3] * rng.randint(2, 20) + text[at + 3 :]
            else:
                text = text[:at] + str(rng.choice([0, -1, 10**6, 10**12, 2**63])) + text[at:]
        inputs.append(text)
    return inputs


def _failures(parse, inputs: "list[str]") -> "list[tuple[str, str]]":
    """(input, exception) for every input that raised something other than a SoraError."""
    failures = []
    for text in inputs:
        try:
            parse(text)
        except SoraError:
            pass
        except Exception as error:  # the finding: report it with its input
            failures.append((text, f"{type(error).__name__}: {error}"[:200]))
    return failures


def test_mask_strategy_grammar():
    seeds = ["0", "0,1,0,-1,1", "0;0,0,0,-1,1,0.5", "1,0,-5,0,5,0.2"]
    assert _failures(parse_mask_strategy, _mutations(seeds, CASES, 1)) == []


PROMPTS = [
    "|0|a forest.|2|a desert.",
    'a car.{"reference_path": "a.png", "mask_strategy": "0"}',
    "|0|a|1|b",
    "a cat",
]


@pytest.mark.parametrize(
    "parse",
    [extract_prompt_json, split_loop_prompt, lambda prompt: prompt_for_loop(prompt, 3)],
    ids=["json", "loops", "loop_3"],
)
def test_prompt_syntax(parse):
    assert _failures(parse, _mutations(PROMPTS, CASES, 2)) == []


CONFIGS = [
    "num_frames = 51\nfps = 24\nimage_size = (240, 426)\n",
    "model = dict(type='STDiT3-XL/2', from_pretrained=None)\nloop = 2 * 3\n",
    "_base_ = []\nprompt = ['a', 'b'] + ['c']\nseed = 2 ** 10 // 3 % 7\n",
    "x = {'a': [1, 2.5, -3]}\ny = x['a'][1]\n",
]


def test_config_evaluator(tmp_path):
    path = tmp_path / "c.py"

    def parse(text: str) -> None:
        path.write_text(text)
        load_config(path)

    assert _failures(parse, _mutations(CONFIGS, CASES, 3)) == []
