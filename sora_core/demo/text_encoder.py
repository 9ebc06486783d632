"""The demo's T5: a 2-layer, 32-wide T5 encoder with a tokenizer fitted to the captions.

Open-Sora keeps its text encoder frozen (the transformer learns to read T5's features), and
so does `opensora-train`; the demo's T5 is therefore never trained: its weights are drawn
once from T5's own initialisation with a fixed seed and shipped. Its tokenizer is a
SentencePiece-style Unigram whose whole words are the caption vocabulary, with single
characters as the fallback, so any prompt tokenises and every caption word is one token.
"""

import json
import string
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import T5Config, T5EncoderModel

from ..text.tokenizer import WORD_BOUNDARY
from .shapes import BACKGROUNDS, COLOURS, DIRECTIONS, SHAPES

CAPTION_WORDS = ("a", "moving", "on", "background", *COLOURS, *SHAPES, *DIRECTIONS, *BACKGROUNDS)
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")
CAPTION_CHANNELS = 32
SEED = 0


def tokenizer_spec() -> dict:
    """A Hugging Face `tokenizer.json` (Unigram): caption words, then characters."""
    characters = string.ascii_lowercase + string.digits + string.punctuation
    vocab = [[token, 0.0] for token in SPECIAL_TOKENS]
    vocab += [[WORD_BOUNDARY + word, -1.0] for word in dict.fromkeys(CAPTION_WORDS)]
    vocab += [[WORD_BOUNDARY, -8.0]]
    vocab += [[character, -10.0] for character in characters]
    added = [
        {"id": index, "content": token, "special": True}
        for index, token in enumerate(SPECIAL_TOKENS)
    ]
    return {
        "version": "1.0",
        "added_tokens": added,
        "normalizer": None,
        "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab},
    }


def t5_config(vocab_size: int) -> T5Config:
    """The encoder's architecture: T5 v1.1's (gated GELU, relative positions), tiny."""
    return T5Config(
        vocab_size=vocab_size,
        d_model=CAPTION_CHANNELS,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
        architectures=["T5EncoderModel"],
    )


def write_text_encoder(folder: "str | Path", seed: int = SEED) -> Path:
    """Write config.json, model.safetensors (fp16) and tokenizer.json into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = tokenizer_spec()
    config = t5_config(len(spec["model"]["vocab"]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5EncoderModel(config)
    weights = {key: value.half().contiguous() for key, value in model.state_dict().items()}
    weights.pop("encoder.embed_tokens.weight", None)  # tied to `shared`
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(config.to_json_string())
    (folder / "tokenizer.json").write_text(json.dumps(spec, indent=1))
    return folder
