"""T5 tokenisation with the reference's ids, whichever tokenizer files are at hand.

Open-Sora tokenises with Hugging Face's T5 tokenizer built from DeepFloyd's `spiece.model`
(`legacy=True`): special-token strings in the text (`</s>`, `<pad>`, `<extra_id_N>`) become
their ids, every stretch of text between them is normalised (NFKC character map,
whitespace collapsed) and split by the Unigram model with a `▁` before each word, then
`</s>` ends the sequence. Loaders differ in exactly those details (ComfyUI's bundled
`tokenizer.json` is `legacy=False`, which drops the `▁` after a special token; old fast
tokenizers keep trailing whitespace), so this module applies the steps itself and uses
the files only for the vocabulary and the character map. It needs `tokenizers` (a
dependency of transformers) and neither sentencepiece nor protobuf.
"""

import base64
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import models, normalizers

from ..errors import CheckpointError, PromptError
from ..json_files import read_json_file
from .sentencepiece_model import read_sentencepiece_model

logger = logging.getLogger(__name__)

WORD_BOUNDARY = "\u2581"  # SentencePiece's visible space
TOKENIZER_FILES = ("spiece.model", "tokenizer.json")
DEFAULT_EXTRA_IDS = 100


@dataclass(frozen=True)
class TokenBatch:
    """Token ids and attention mask, both int64 [B, L], and each text's untruncated length."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    lengths: "list[int]"


class T5PromptTokenizer:
    """Tokenises prompts like the reference: pad to L, truncate keeping `</s>` last."""

    def __init__(
        self,
        vocab: "list[tuple[str, float]]",
        unk_id: int,
        special_tokens: "dict[str, int]",
        precompiled_charsmap: bytes,
        source: str,
    ):
        missing = [name for name in ("<pad>", "</s>") if name not in special_tokens]
        if missing:
            raise CheckpointError(f"tokenizer {source!r} lacks the T5 special tokens {missing}")
        self.source = source
        self.special_tokens = dict(special_tokens)
        self.pad_id = special_tokens["<pad>"]
        self.eos_id = special_tokens["</s>"]
        self.vocab_size = max(len(vocab), max(special_tokens.values()) + 1)
        self._model = models.Unigram(vocab, unk_id)
        self._normalizer = (
            normalizers.Precompiled(precompiled_charsmap) if precompiled_charsmap else None
        )
        # Longest first, so that <extra_id_10> is not read as <extra_id_1> followed by "0>".
        literals = sorted(special_tokens, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(map(re.escape, literals)) + ")")

    @classmethod
    def from_sentencepiece(
        cls, path: "str | Path", extra_ids: int = DEFAULT_EXTRA_IDS
    ) -> "T5PromptTokenizer":
        """From `spiece.model`, with T5's `extra_ids` sentinels after the pieces."""
        model = read_sentencepiece_model(path)
        vocab = [(text, score) for text, score, _ in model.pieces]
        # T5 numbers its sentinels backwards after the pieces: <extra_id_0> is the last id.
        sentinels = [f"<extra_id_{extra_ids - 1 - k}>" for k in range(extra_ids)]
        vocab += [(name, 0.0) for name in sentinels]
        special = {text: index for index, (text, _, _) in enumerate(model.pieces[:3])}
        special.update({name: len(model.pieces) + k for k, name in enumerate(sentinels)})
        return cls(vocab, model.unk_id, special, model.precompiled_charsmap, str(path))

    @classmethod
    def from_tokenizer_json(cls, path: "str | Path") -> "T5PromptTokenizer":
        """From a Hugging Face `tokenizer.json` holding a Unigram (SentencePiece) model."""
        spec = read_json_file(path, "tokenizer.json", CheckpointError)
        model = spec.get("model")
        if not isinstance(model, dict) or model.get("type") != "Unigram":
            kind = model.get("type") if isinstance(model, dict) else model
            raise CheckpointError(
                f"{str(path)!r} holds a {kind!r} model; a T5 tokenizer is Unigram"
            )
        try:
            vocab = [(str(text), float(score)) for text, score in model["vocab"]]
            special = {
                str(token["content"]): int(token["id"])
                for token in spec.get("added_tokens", [])
                if token.get("special")
            }
            charsmap = _precompiled_charsmap(spec.get("normalizer"))
            unk_id = int(model.get("unk_id", 2))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CheckpointError(
                f"{str(path)!r} is not a T5 tokenizer.json: its model is malformed ({error!r})"
            ) from None
        return cls(vocab, unk_id, special, charsmap, str(path))

    def _text_ids(self, text: str) -> "list[int]":
        # The legacy behaviour: each stretch between special tokens is a fresh sentence.
        if self._normalizer is not None:
            text = self._normalizer.normalize_str(text)
        words = text.replace(WORD_BOUNDARY, " ").split()
        return [token.id for word in words for token in self._model.tokenize(WORD_BOUNDARY + word)]

    def token_ids(self, text: str) -> "list[int]":
        """All ids of `text` followed by `</s>`, before truncation."""
        if not isinstance(text, str):
            raise PromptError(f"prompt must be a string, got {type(text).__name__}: {text!r}")
        ids: list[int] = []
        for part in self._special_split.split(text):
            if part in self.special_tokens:
                ids.append(self.special_tokens[part])
            elif part:
                ids.extend(self._text_ids(part))
        return [*ids, self.eos_id]

    def __call__(self, texts: "list[str]", max_length: int) -> TokenBatch:
        """Ids and mask [B, max_length]: right-padded with `<pad>`, `</s>` kept when truncated."""
        rows = [self.token_ids(text) for text in texts]
        input_ids = torch.full((len(rows), max_length), self.pad_id, dtype=torch.int64)
        attention_mask = torch.zeros((len(rows), max_length), dtype=torch.int64)
        for index, ids in enumerate(rows):
            if len(ids) > max_length:
                logger.warning(
                    "prompt %d has %d tokens, more than model_max_length %d: truncated to its "
                    "first %d tokens (%r...)",
                    index,
                    len(ids),
                    max_length,
                    max_length - 1,
                    texts[index][:60],
                )
                ids = [*ids[: max_length - 1], self.eos_id]
            input_ids[index, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
            attention_mask[index, : len(ids)] = 1
        return TokenBatch(input_ids, attention_mask, [len(ids) for ids in rows])


def _precompiled_charsmap(normalizer: "dict | None") -> bytes:
    """The SentencePiece character map of a tokenizer.json normaliser (b"" when absent)."""
    if not normalizer:
        return b""
    if normalizer.get("type") == "Precompiled":
        return base64.b64decode(normalizer.get("precompiled_charsmap") or "")
    for inner in normalizer.get("normalizers", []):
        charsmap = _precompiled_charsmap(inner)
        if charsmap:
            return charsmap
    return b""


def _extra_ids(folder: Path) -> int:
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return DEFAULT_EXTRA_IDS
    extra_ids = read_json_file(config, "tokenizer config", CheckpointError).get(
        "extra_ids", DEFAULT_EXTRA_IDS
    )
    if isinstance(extra_ids, bool) or not isinstance(extra_ids, int) or not 0 <= extra_ids <= 1000:
        raise CheckpointError(
            f"{str(config)!r}: extra_ids {extra_ids!r} is not a count of sentinel tokens (0-1000)"
        )
    return extra_ids


def find_tokenizer_file(folder: "str | Path") -> "Path | None":
    """`spiece.model` or `tokenizer.json` inside `folder`, or None."""
    for name in TOKENIZER_FILES:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    return None


def load_t5_tokenizer(source: "str | Path") -> T5PromptTokenizer:
    """A tokenizer from `spiece.model`, `tokenizer.json`, or a folder holding either."""
    path = Path(source).expanduser()
    if path.is_dir():
        found = find_tokenizer_file(path)
        if found is None:
            raise CheckpointError(
                f"tokenizer folder {str(path)!r} holds neither of {list(TOKENIZER_FILES)}"
            )
        path = found
    if not path.is_file():
        raise CheckpointError(
            f"tokenizer {str(path)!r} does not exist; pass a spiece.model, a tokenizer.json "
            "or a folder holding one"
        )
    if path.name.endswith(".json"):
        return T5PromptTokenizer.from_tokenizer_json(path)
    return T5PromptTokenizer.from_sentencepiece(path, _extra_ids(path.parent))
