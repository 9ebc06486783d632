"""Open-Sora's caption cleaning (`text_preprocessing`), the PixArt / DeepFloyd IF cleaner.

Every Open-Sora release cleans prompts this way before T5 (1.0 inside the encoder, 1.1 and
1.2 in the inference scripts), and training captions were cleaned the same way, so the
model expects it. The result depends on ftfy, beautifulsoup4 and the interpreter's Unicode
tables; the steps and their order are the reference's, pass by pass.
"""

import html
import re
import urllib.parse

import ftfy
from bs4 import BeautifulSoup

from ..errors import PromptError

# The regular-expression passes are linear in the prompt's length (`_remove_urls` and the
# rewritten patterns below give the reference's matches); this bound keeps them near a second.
MAX_CLEANED_CHARACTERS = 100_000
# The HTML pass is Python's html.parser, which rescans to the end of the text for every
# unclosed tag (`<a <a <a ...`: 12,000 characters take ~4 s); text holding `<` is bounded
# tighter. T5 reads at most 300 tokens (about 1,500 characters), so nothing is lost.
MAX_MARKUP_CHARACTERS = 2000

# The reference removes URLs with `\b(?:SCHEME|HOST)` twice, SCHEME being `https?:` then
# `www:`; `_remove_urls` finds the same matches without retrying HOST inside a run.
_SCHEME_END = r"(?:\/{1,3}|[a-zA-Z0-9%])"
_URL_SCHEMES = (
    re.compile(r"\bhttps?:" + _SCHEME_END),
    re.compile(r"\bwww:" + _SCHEME_END),
)
_HOST = re.compile(r"\b[a-zA-Z0-9.\-]+[.](?:com|co|ru|net|org|edu|gov|it)[\w/-]*\b\/?(?!@)")
_HOST_RUN = re.compile(r"[a-zA-Z0-9.\-]+")
_BOUNDARY = re.compile(r"\b")
# Every dash variant (the hyphen-minus escaped, \u2010-\u2015 a range).
_DASHES = (
    r"[\-\u058a\u05be\u1400\u1806\u2010-\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40"
    r"\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d]+"
)
_FILE_EXTENSIONS = "png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4"

# (pattern, replacement) applied in order between the HTML pass and ftfy.
_BEFORE_FIX_TEXT = [
    (r"@[\w\d]+\b", ""),  # @nickname
    # CJK strokes, katakana extensions, enclosed letters, compatibility, ideographs
    # (kana, hangul and Cyrillic stay).
    (r"[\u31c0-\u31ef]+", ""),
    (r"[\u31f0-\u31ff]+", ""),
    (r"[\u3200-\u32ff]+", ""),
    (r"[\u3300-\u33ff]+", ""),
    (r"[\u3400-\u4dbf]+", ""),
    (r"[\u4dc0-\u4dff]+", ""),
    (r"[\u4e00-\u9fff]+", ""),
    (_DASHES, "-"),
    (r"[`´«»“”¨]", '"'),
    (r"[‘’]", "'"),
    (r"&quot;?", ""),
    (r"&amp", ""),
    (r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", " "),  # IP addresses
    (r"\d:\d\d\s+$", ""),  # trailing article ids
    (r"\\n", " "),  # a literal backslash-n
    (r"#\d{1,3}\b", ""),
    (r"#\d{5,}\b", ""),
    (r"\b\d{6,}\b", ""),
    # File names. `(?<!\S)`: a start inside a word cannot match where the word's start did
    # not (the reference retried every position: quadratic in the word's length).
    (r"(?<!\S)[\S]+\.(?:" + _FILE_EXTENSIONS + ")", ""),
    (r"[\"']{2,}", '"'),
    (r"[\.]{2,}", " "),
    (r"[#®•©™&@·º½¾¿¡§~)(\]\[}{|\\/*]+", " "),
    (r"(?<!\s)\s+\.\s+", " "),  # starts inside a run of spaces add nothing, as above
]

# Applied in order after ftfy; the last four strip quotes and punctuation at the ends.
_AFTER_FIX_TEXT = [
    (r"\b[a-zA-Z]{1,3}\d{3,15}\b", ""),  # jc6640
    (r"\b[a-zA-Z]+\d+[a-zA-Z]+\b", ""),  # jc6640vc
    (r"\b\d+[a-zA-Z]+\d+\b", ""),  # 6640vc231
    (r"(worldwide\s+)?(free\s+)?shipping", ""),
    (r"(free\s)?download(\sfree)?", ""),
    (r"\bclick\b\s(?:for|on)\s\w+", ""),
    (r"\b(?:" + _FILE_EXTENSIONS + r")(\simage[s]?)?", ""),
    (r"\bpage\s+\d+\b", ""),
    (r"\b\d*[a-zA-Z]+\d+[a-zA-Z]+\d+[a-zA-Z\d]*\b", " "),  # j2d1a2a
    # Sizes such as 1920x1080: the reference's `\b\d+\.?\d*[xх×]\d+\.?\d*\b` without its
    # quadratic backtracking over long digit runs (the same matches: a digit run splits one way).
    (r"\b\d++(?:\.\d*+)?+[xх×]\d++(?:\.\d*+\b|\.\b|\b)", ""),
    (r"\b\s+\:\s+", ": "),
    (r"(\D[,\./])\b", r"\1 "),
    (r"\s+", " "),
    (r"^[\"']([\w\W]+)[\"']$", r"\1"),
    (r"^['\_,\-\:;]", ""),
    (r"['\_,\-\:\-\+]$", ""),
    (r"^\.\S+$", ""),
]


def _compiled(steps: "list[tuple[str, str]]") -> "list[tuple[re.Pattern, str]]":
    return [(re.compile(pattern), replacement) for pattern, replacement in steps]


_BEFORE = _compiled(_BEFORE_FIX_TEXT)
_AFTER = _compiled(_AFTER_FIX_TEXT)
_DASH_OR_UNDERSCORE = re.compile(r"(?:\-|\_)")


def _substitute(text: str, steps: "list[tuple[re.Pattern, str]]") -> str:
    for pattern, replacement in steps:
        text = pattern.sub(replacement, text)
    return text


def _first_host(text: str, run: re.Match, start: int) -> "re.Match | None":
    """The HOST match starting in `run` at or after `start`, if any.

    Only the first word boundary of the run can start one: a later start has a subset of
    the same choices of `.com` (the rest of the match depends only on that choice)."""
    boundary = _BOUNDARY.search(text, start, run.end())
    if boundary is None or boundary.start() >= run.end():
        return None
    return _HOST.match(text, boundary.start())


def _remove_urls(text: str, scheme: re.Pattern) -> str:
    """`re.sub(r"\b(?:SCHEME|HOST)", "", text)` in linear time (the reference's URL pass).

    Python's engine retries HOST at every word boundary of a long run such as `1.1.1.1...`,
    each try scanning to the run's end; here each run is tried at most once from where the
    search stands, and a result stays valid until the search passes its start."""
    pieces: list[str] = []
    position = 0
    runs = _HOST_RUN.finditer(text)
    run = next(runs, None)
    host = scheme_match = None
    searched_scheme = False
    while True:
        while host is None or host.start() < position:
            host = None
            if run is None:
                break
            if run.end() > position:
                host = _first_host(text, run, max(run.start(), position))
                if host is not None:
                    break
            run = next(runs, None)
        if not searched_scheme or (scheme_match is not None and scheme_match.start() < position):
            scheme_match = scheme.search(text, position)
            searched_scheme = True
        found = [match for match in (scheme_match, host) if match is not None]
        if not found:
            break
        # At one position the reference tries SCHEME before HOST.
        first = min(found, key=lambda match: (match.start(), match is host))
        pieces.append(text[position : first.start()])
        position = first.end()
    pieces.append(text[position:])
    return "".join(pieces)


def basic_clean(text: str) -> str:
    """Repair mojibake (ftfy), undo HTML escaping twice, strip."""
    text = ftfy.fix_text(text)
    return html.unescape(html.unescape(text)).strip()


def clean_caption(caption: str) -> str:
    """One pass of the reference cleaner: lower-case, drop URLs, HTML, ids, junk, punctuation."""
    caption = urllib.parse.unquote_plus(str(caption)).strip().lower()
    caption = caption.replace("<person>", "person")
    for scheme in _URL_SCHEMES:
        caption = _remove_urls(caption, scheme)
    if "<" in caption and len(caption) > MAX_MARKUP_CHARACTERS:
        raise PromptError(
            f"prompt {caption[:40]!r}... has {len(caption)} characters and contains '<' "
            f"(HTML is stripped); at most {MAX_MARKUP_CHARACTERS} such characters are cleaned "
            "(T5 reads about 1,500 anyway): shorten it or remove the '<'"
        )
    caption = BeautifulSoup(caption, features="html.parser").text
    caption = _substitute(caption, _BEFORE)
    # this-is-my-cute-cat / this_is_my_cute_cat: word separators, not hyphens.
    if len(_DASH_OR_UNDERSCORE.findall(caption)) > 3:
        caption = _DASH_OR_UNDERSCORE.sub(" ", caption)
    caption = basic_clean(caption)
    return _substitute(caption, _AFTER).strip()


def text_preprocessing(text: str, use_text_preprocessing: bool = True) -> str:
    """The reference's prompt cleaning: `clean_caption` twice (else lower-case and strip)."""
    if not use_text_preprocessing:
        return text.lower().strip()
    if len(text) > MAX_CLEANED_CHARACTERS:
        raise PromptError(
            f"prompt {text[:40]!r}... has {len(text)} characters; at most "
            f"{MAX_CLEANED_CHARACTERS:,} are cleaned (T5 reads about 1,500 characters of it "
            "anyway): shorten it"
        )
    # Twice, as in training: the first pass can expose patterns the second removes.
    return clean_caption(clean_caption(text))
