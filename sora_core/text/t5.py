"""Open-Sora's T5 text encoder: prompts to `y` [B, 1, L, D] and `mask` [B, L].

Same outputs as the reference's `T5Encoder.encode` (no cleaning here: the release's
prompt path cleans before encoding), with a memory policy around it: weights rest on
`offload_device` and visit `device` only while encoding, and recent prompts are cached.
"""

import torch
from transformers import T5EncoderModel

from ..errors import ConfigError
from .cache import EncodingCache
from .null import null_captions
from .tokenizer import T5PromptTokenizer, TokenBatch

# Open-Sora's captions are 120-300 tokens; past this a typo would pad every prompt to it.
MAX_TEXT_TOKENS = 4096


class T5TextEncoder:
    """Encodes prompts with T5 exactly as Open-Sora does; `null(n)` is the learned caption."""

    def __init__(
        self,
        model: T5EncoderModel,
        tokenizer: T5PromptTokenizer,
        model_max_length: int = 120,
        device: "str | torch.device" = "cpu",
        offload_device: "str | torch.device" = "cpu",
        keep_on_device: bool = False,
        cache_size: int = 32,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.model_max_length = int(model_max_length)
        if not 1 <= self.model_max_length <= MAX_TEXT_TOKENS:
            raise ConfigError(
                f"model_max_length = {model_max_length}: 1 to {MAX_TEXT_TOKENS} tokens "
                "(Open-Sora 1.0: 120, 1.1/1.2: 200/300)"
            )
        self.output_dim = model.config.d_model
        self.device = torch.device(device)
        self.offload_device = torch.device(offload_device)
        self.keep_on_device = keep_on_device
        self.cache = EncodingCache(cache_size)
        # Set by the caller to the transformer's y_embedder, as the reference scripts do.
        self.y_embedder = None

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the encoder computes in (its embedding's)."""
        return self.model.shared.weight.dtype

    def tokenize(self, texts: "list[str]") -> TokenBatch:
        """Token ids and mask [B, model_max_length] (over-long prompts truncated, with a warning)."""
        return self.tokenizer(list(texts), self.model_max_length)

    @torch.no_grad()
    def _run(self, tokens: TokenBatch) -> torch.Tensor:
        self.model.to(self.device)
        try:
            hidden = self.model(
                input_ids=tokens.input_ids.to(self.device),
                attention_mask=tokens.attention_mask.to(self.device),
            ).last_hidden_state  # [B, L, D]
        finally:
            if not self.keep_on_device:
                self.offload()
        return hidden.float()

    def encode(self, texts: "list[str]") -> "dict[str, torch.Tensor]":
        """{"y": float32 [B, 1, L, D], "mask": int64 [B, L]} on `device`, cached by prompt."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        tokens = self.tokenize(texts)
        cached = [self.cache.get(text) for text in texts]
        missing = [index for index, hit in enumerate(cached) if hit is None]
        if missing:
            fresh = TokenBatch(
                tokens.input_ids[missing],
                tokens.attention_mask[missing],
                [tokens.lengths[index] for index in missing],
            )
            hidden = self._run(fresh).cpu()
            for row, index in enumerate(missing):
                cached[index] = hidden[row]
                self.cache.put(texts[index], hidden[row])
        y = torch.stack(cached).to(self.device)[:, None]  # [B, 1, L, D]
        return {"y": y, "mask": tokens.attention_mask.to(self.device)}

    def null(self, n: int, source=None) -> torch.Tensor:
        """[n, 1, L, D]: the learned null caption of `source` (default: `self.y_embedder`)."""
        source = self.y_embedder if source is None else source
        return null_captions(source, n, self.model_max_length).to(self.device)

    def offload(self) -> None:
        """Move the weights to `offload_device` and release the accelerator's cached memory."""
        self.model.to(self.offload_device)
        if self.device.type == "cuda" and self.offload_device.type != "cuda":
            torch.cuda.empty_cache()

    def clear_cache(self) -> None:
        """Forget the cached encodings."""
        self.cache.clear()
