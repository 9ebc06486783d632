"""Text encoding for Open-Sora: T5-XXL as the reference uses it, CLIP and class labels.

`sora_core.checkpoints.build_text_encoder(config)` takes Open-Sora's `text_encoder` config
dicts; `prepare_prompts` applies a release's prompt path (JSON extras, loop segments, score
captions, cleaning) before `encode`; `null(n)` is the transformer's learned null caption.
"""

from .classes import ClassEncoder
from .cleaning import basic_clean, clean_caption, text_preprocessing
from .null import learned_null_caption, null_captions
from .preparation import RELEASES, PreparedPrompts, PromptOptions, prepare_prompts
from .t5 import T5TextEncoder
from .tokenizer import T5PromptTokenizer, TokenBatch, load_t5_tokenizer

__all__ = [
    "RELEASES",
    "ClassEncoder",
    "PreparedPrompts",
    "PromptOptions",
    "T5PromptTokenizer",
    "T5TextEncoder",
    "TokenBatch",
    "basic_clean",
    "clean_caption",
    "learned_null_caption",
    "load_t5_tokenizer",
    "null_captions",
    "prepare_prompts",
    "text_preprocessing",
]
