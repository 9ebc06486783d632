"""The CLIP text encoder option of Open-Sora's configs (`type="clip"`).

As the reference: the prompt is tokenised to `model_max_length` (77), and `y` is CLIP's
pooled output as [B, 1, 1, D]; there is no mask. `sora_core.checkpoints`
loads it from a local folder.
"""

import torch
from transformers import CLIPTextModel, CLIPTokenizer

from .null import null_captions


class ClipTextEncoder:
    """Prompts to CLIP's pooled text embedding [B, 1, 1, D]; `null(n)` is the learned caption."""

    def __init__(
        self,
        model: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        model_max_length: int = 77,
        device: "str | torch.device" = "cpu",
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.model_max_length = int(model_max_length)
        self.output_dim = model.config.hidden_size
        self.device = torch.device(device)
        self.y_embedder = None

    @torch.no_grad()
    def encode(self, texts: "list[str]") -> "dict[str, torch.Tensor]":
        """{"y": [B, 1, 1, D]}: the pooled output (end-of-text token), as the reference."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        tokens = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.model_max_length,
            padding="max_length",
            return_tensors="pt",
        )
        self.model.to(self.device)
        pooled = self.model(input_ids=tokens["input_ids"].to(self.device)).pooler_output
        return {"y": pooled[:, None, None]}  # [B, 1, 1, D]

    def null(self, n: int, source=None) -> torch.Tensor:
        """[n, 1, L, D]: the transformer's learned null caption."""
        source = self.y_embedder if source is None else source
        return null_captions(source, n).to(self.device)
