"""Shared pieces of the text-encoding tests: the fixture model and encoders built from it."""

import functools
import logging

from golden import fixtures_dir
from sora_core.checkpoints.text import load_text_encoder

TEXT_KINDS = ("encode", "pipeline", "null", "class_encoder", "text_preprocessing")


def tiny_t5_dir():
    """The fixtures' tiny T5 folder (spiece.model, config.json, model.safetensors)."""
    return fixtures_dir() / "text" / "tiny_t5"


def tiny_tokenizer_json_dir():
    """The same tokenizer as a tokenizer.json folder."""
    return fixtures_dir() / "text" / "tiny_t5_tokenizer"


@functools.lru_cache(maxsize=8)
def fp32_encoder(model_max_length: int):
    """The tiny T5 in fp32 (the reference's inference precision), padding to L."""
    return load_text_encoder(
        tiny_t5_dir(), dtype="fp32", model_max_length=model_max_length, cache_size=0
    )


def quiet_truncation():
    """Silence the expected truncation warnings of the long fixture rows."""
    logging.getLogger("sora_core.text.tokenizer").setLevel(logging.ERROR)
