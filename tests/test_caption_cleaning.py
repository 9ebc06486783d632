"""Caption cleaning in linear time, with the reference's output.

The reference's patterns are kept here verbatim: the cleaner's rewrites (`_remove_urls`,
the file-name, spaced-dot and size patterns) must find exactly their matches, and must not
take quadratic time on long runs that made the reference take minutes.
"""

import random
import re
import subprocess
import sys

import pytest

from golden import PROJECT_ROOT
from sora_core.errors import PromptError
from sora_core.text import cleaning, text_preprocessing

_TLD = r"[a-zA-Z0-9.\-]+[.](?:com|co|ru|net|org|edu|gov|it)[\w/-]*\b\/?(?!@)"
REFERENCE_URLS = (
    re.compile(r"\b((?:https?:(?:\/{1,3}|[a-zA-Z0-9%])|" + _TLD + r"))"),
    re.compile(r"\b((?:www:(?:\/{1,3}|[a-zA-Z0-9%])|" + _TLD + r"))"),
)
# (reference pattern, replacement, a word of the rewritten pattern that identifies it)
REFERENCE_PATTERNS = (
    (r"[\S]+\.(?:png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4)", "", r"[\S]+"),
    (r"\s+\.\s+", " ", r"\s+\.\s+"),
    (r"\b\d+\.?\d*[xх×]\d+\.?\d*\b", "", "х"),
)
PIECES = (
    "a 1 2 . - : / _ @ h t p s w x х × % é \t com co it png jpg http www .com 1920 .5 ..".split(" ")
) + [" "]


def _rewritten(marker: str) -> re.Pattern:
    steps = cleaning._BEFORE + cleaning._AFTER
    found = [pattern for pattern, _ in steps if marker in pattern.pattern]
    assert len(found) == 1, marker
    return found[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_rewritten_passes_find_the_reference_matches(seed):
    rng = random.Random(seed)
    for _ in range(4000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 24)))
        for reference, scheme in zip(REFERENCE_URLS, cleaning._URL_SCHEMES):
            assert cleaning._remove_urls(text, scheme) == reference.sub("", text), repr(text)
        for pattern, replacement, marker in REFERENCE_PATTERNS:
            expected = re.sub(pattern, replacement, text)
            assert _rewritten(marker).sub(replacement, text) == expected, (pattern, text)


def test_reference_url_examples_are_removed():
    text = "see https://example.com/a?b and www:/x, mail a.b.co.uk/p or 1.2.3.4.it now"
    for reference, scheme in zip(REFERENCE_URLS, cleaning._URL_SCHEMES):
        assert cleaning._remove_urls(text, scheme) == reference.sub("", text)
        text = reference.sub("", text)
    assert "example" not in text and "now" in text


# Runs on which the reference backtracks quadratically: 16,000 characters of these took 1-8 s
# per pattern, 100,000 take minutes; the rewritten passes take well under a second.
ADVERSARIAL = (("1.", 50_000), ("a.", 50_000), ("1", 100_000), (" ", 100_000), ("a1", 50_000))
SCRIPT = """
from sora_core.text import cleaning
for unit, count in {texts!r}:
    text = unit * count + "x"
    for scheme in cleaning._URL_SCHEMES:
        cleaning._remove_urls(text, scheme)
    cleaning._substitute(cleaning._substitute(text, cleaning._BEFORE), cleaning._AFTER)
print("done")
"""


def test_long_adversarial_captions_clean_in_linear_time():
    # A generous bound (the machine may be busy): quadratic passes would need many minutes.
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(texts=ADVERSARIAL)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "done", result.stderr


def test_long_prompt_without_markup_is_cleaned_whole():
    text = "a red fox. " * 2000 + "see www.example.com/fox now"
    cleaned = text_preprocessing(text)
    assert cleaned.startswith("a red fox. a red fox.") and cleaned.endswith("see now")


def test_overlong_prompt_is_refused_before_cleaning():
    with pytest.raises(PromptError, match=r"has 100001 characters; at most 100,000 are cleaned"):
        text_preprocessing("a" * 100_001)


def test_long_prompt_with_markup_is_refused_before_the_html_pass():
    # html.parser rescans to the end for every unclosed tag: quadratic in the prompt.
    with pytest.raises(PromptError, match=r"contains '<'.*at most 2000"):
        text_preprocessing("<a " * 4000)
    assert text_preprocessing("<b>a red fox</b> " * 100) == " ".join(["a red fox"] * 100)
