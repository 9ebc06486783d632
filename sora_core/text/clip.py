"""The CLIP text encoder option of Open-Sora's configs (`type="clip"`), from a local folder.

As the reference: the prompt is tokenised to `model_max_length` (77), and `y` is CLIP's
pooled output as [B, 1, 1, D]; there is no mask. The folder holds a Hugging Face
`CLIPTextModel` or `CLIPModel` (config.json, weights, vocab.json and merges.txt); nothing is
downloaded.
"""

import os
from pathlib import Path

import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from ..checkpoints.files import read_folder_config, read_state_dict
from ..dtypes import resolve_dtype
from ..errors import CheckpointError, ConfigError
from .null import null_captions

TEXT_PREFIX = "text_model."


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


def _text_config(folder: Path) -> CLIPTextConfig:
    config = read_folder_config(folder)
    if config is None:
        raise CheckpointError(f"CLIP folder {str(folder)!r} has no config.json")
    # A full CLIPModel folder nests the text tower's settings.
    values = config.get("text_config") or config
    return CLIPTextConfig(**{key: value for key, value in values.items() if key != "model_type"})


def _text_weights(state_dict: dict, expected: "set[str]", dtype: torch.dtype) -> dict:
    # transformers 4.x names the text tower `text_model.*`, 5.x drops the prefix; files
    # (CLIPModel or CLIPTextModel) may use either, and CLIPModel's vision tower is ignored.
    weights = {}
    for key, tensor in state_dict.items():
        bare = key.removeprefix(TEXT_PREFIX)
        for name in (bare, TEXT_PREFIX + bare):
            if name in expected:
                weights[name] = tensor.to(dtype)
    return weights


def _materialise_position_ids(model: CLIPTextModel) -> None:
    # A non-persistent buffer is not in the file, so it is still on the meta device.
    for name, buffer in list(model.named_buffers()):
        if buffer.is_meta and name.endswith("position_ids"):
            owner = model.get_submodule(name.rpartition(".")[0])
            positions = torch.arange(model.config.max_position_embeddings).expand((1, -1))
            owner.register_buffer("position_ids", positions, persistent=False)


def load_clip_text_encoder(
    path: "str | os.PathLike",
    model_max_length: int = 77,
    dtype: "str | torch.dtype | None" = None,
    device: "str | torch.device" = "cpu",
) -> ClipTextEncoder:
    """A CLIP text encoder from a local Hugging Face folder (fp32 unless `dtype` says otherwise)."""
    folder = Path(path).expanduser()
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise CheckpointError(
            f"CLIP text encoder {str(folder)!r}: expected a local folder holding config.json, "
            "weights, vocab.json and merges.txt"
        )
    try:
        tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError) as error:
        raise CheckpointError(f"no CLIP tokenizer in {str(folder)!r}: {error}") from error
    config = _text_config(folder)
    if model_max_length > config.max_position_embeddings:
        raise ConfigError(
            f"model_max_length={model_max_length} exceeds the {config.max_position_embeddings} "
            f"positions of the CLIP model in {str(folder)!r}"
        )
    with torch.device("meta"):
        model = CLIPTextModel(config)
    expected = set(model.state_dict())
    weights = _text_weights(read_state_dict(folder), expected, resolve_dtype(dtype))
    missing = sorted(key for key in expected - set(weights) if not key.endswith("position_ids"))
    if missing:
        raise CheckpointError(
            f"{str(folder)!r} is not a CLIP text model: missing {missing[:5]} ({len(missing)})"
        )
    model.load_state_dict(weights, strict=False, assign=True)
    _materialise_position_ids(model)
    return ClipTextEncoder(model.eval().requires_grad_(False), tokenizer, model_max_length, device)
