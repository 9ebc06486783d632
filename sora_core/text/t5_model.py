"""Building transformers' `T5EncoderModel` from a state dict, never from the hub.

The model is created on the meta device from a config (the folder's `config.json`, or one
read off the weight shapes for ComfyUI's single files) and the tensors are assigned into
it, so no second copy of the weights is ever allocated. Weights may be stored in a lower
precision than the computation runs in (fp8 or fp16 files computed in bf16, as ComfyUI
does), or left in CPU memory by ComfyUI's partial loading: every layer casts its weight to
the activations' dtype and device on each call.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import T5Config, T5EncoderModel
from transformers.models.t5.modeling_t5 import T5DenseActDense, T5DenseGatedActDense, T5LayerNorm

from ..dtypes import is_fp8
from ..errors import CheckpointError
from ..models.layers import CastOnUse

T5_SIGNATURE_KEY = "encoder.block.0.layer.0.SelfAttention.q.weight"
RELATIVE_BIAS_KEY = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
EMBEDDING_KEY = "shared.weight"
TIED_EMBEDDING_KEY = "encoder.embed_tokens.weight"

# google/t5-v1_1-xxl (DeepFloyd/t5-v1_1-xxl), the encoder of every Open-Sora release. Only
# the values that the weight shapes cannot tell are needed for single files.
T5_V1_1_XXL = {
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "vocab_size": 32128,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
    "dropout_rate": 0.1,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "tie_word_embeddings": False,
}


class _CastLinear(CastOnUse, nn.Linear):
    """A linear layer whose stored weight is cast to the activations' dtype and device when
    called (ComfyUI's cast-on-use contract, `models.layers.CastOnUse`)."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, *self.cast_weights(hidden))


class _CastEmbedding(CastOnUse, nn.Embedding):
    """An embedding table brought to the token ids' device when looked up (its dtype is
    already the computation's)."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(ids.device)
        for patch in self.weight_function:
            weight = patch(weight)
        return F.embedding(ids, weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)  # fmt: skip


class _CastLayerNorm(CastOnUse, T5LayerNorm):
    """T5's RMS norm with its scale brought to the activations' device when called."""

    bias = None  # `CastOnUse.cast_weights` reads it

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        variance = hidden.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden = hidden * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            hidden = hidden.to(self.weight.dtype)
        weight = self.weight.to(hidden.device)
        for patch in self.weight_function:
            weight = patch(weight)
        return weight * hidden


class _CastGatedFeedForward(T5DenseGatedActDense):
    """T5 v1.1 feed-forward without the cast of activations to `wo`'s storage dtype."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        # transformers casts to wo.weight.dtype here, which would push activations into fp8.
        gated = self.act(self.wi_0(hidden)) * self.wi_1(hidden)
        return self.wo(self.dropout(gated))


class _CastFeedForward(T5DenseActDense):
    """Original-T5 feed-forward without the cast of activations to `wo`'s storage dtype."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(self.act(self.wi(hidden))))


# Every module holding weights becomes cast-on-use, so ComfyUI may load T5 partially
# (`--lowvram`) and fp8/fp16 storage computes in the activations' dtype.
_CAST_CLASSES = {
    nn.Linear: _CastLinear,
    nn.Embedding: _CastEmbedding,
    T5LayerNorm: _CastLayerNorm,
    T5DenseGatedActDense: _CastGatedFeedForward,
    T5DenseActDense: _CastFeedForward,
}


def strip_to_t5_encoder(state_dict: dict, source: str) -> dict:
    """The encoder's tensors under HF `T5EncoderModel` names, whatever wraps them.

    Accepts encoder-only files (DeepFloyd, ComfyUI's t5xxl_*), full T5 checkpoints
    (decoder dropped) and files whose keys carry a prefix; anything else is not T5.
    """
    signature = next((key for key in state_dict if key.endswith(T5_SIGNATURE_KEY)), None)
    if signature is None or not isinstance(state_dict[signature], torch.Tensor):
        sample = sorted(state_dict)[:5]
        raise CheckpointError(
            f"{source!r} is not a T5 encoder: no tensor named like {T5_SIGNATURE_KEY!r} "
            f"(first keys: {sample})"
        )
    prefix = signature[: -len(T5_SIGNATURE_KEY)]
    encoder = {
        key[len(prefix) :]: tensor
        for key, tensor in state_dict.items()
        if key.startswith(prefix)
        and key[len(prefix) :].startswith(("encoder.", "shared."))
        and isinstance(tensor, torch.Tensor)
    }
    if any(key.endswith(".scale_weight") for key in encoder):
        raise CheckpointError(
            f"{source!r} is a 'scaled fp8' T5 file, which is not supported; use "
            "t5xxl_fp8_e4m3fn.safetensors or t5xxl_fp16.safetensors"
        )
    embedding = encoder.pop(TIED_EMBEDDING_KEY, None)
    encoder.setdefault(EMBEDDING_KEY, embedding)
    if encoder[EMBEDDING_KEY] is None or RELATIVE_BIAS_KEY not in encoder:
        raise CheckpointError(
            f"{source!r} is not a complete T5 encoder: it lacks {EMBEDDING_KEY!r} or "
            f"{RELATIVE_BIAS_KEY!r}"
        )
    return encoder


def config_from_weights(state_dict: dict) -> dict:
    """T5 config values read off the tensor shapes, the rest from t5-v1_1-xxl."""
    relative_bias = state_dict[RELATIVE_BIAS_KEY]
    query = state_dict[T5_SIGNATURE_KEY]
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in state_dict
    first_ff = "wi_0" if gated else "wi"
    layers = {key.split(".")[2] for key in state_dict if key.startswith("encoder.block.")}
    return {
        **T5_V1_1_XXL,
        "vocab_size": state_dict[EMBEDDING_KEY].shape[0],
        "d_model": state_dict[EMBEDDING_KEY].shape[1],
        "num_layers": len(layers),
        "num_heads": relative_bias.shape[1],
        "relative_attention_num_buckets": relative_bias.shape[0],
        "d_kv": query.shape[0] // relative_bias.shape[1],
        "d_ff": state_dict[f"encoder.block.0.layer.1.DenseReluDense.{first_ff}.weight"].shape[0],
        "feed_forward_proj": "gated-gelu" if gated else "relu",
    }


def _to_storage(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if is_fp8(dtype) and not is_fp8(tensor.dtype):
        # Casting does not saturate: clamp so that out-of-range weights do not become NaN.
        limit = torch.finfo(dtype).max
        return tensor.to(torch.float32).clamp_(-limit, limit).to(dtype)
    return tensor.to(dtype)


def build_t5_encoder(
    state_dict: dict,
    config: dict,
    weight_dtype: torch.dtype,
    compute_dtype: torch.dtype,
) -> T5EncoderModel:
    """`T5EncoderModel` holding `state_dict` (consumed): linear weights in `weight_dtype`.

    Embeddings and norms, a small share of the parameters, are kept in `compute_dtype` so
    that the model's dtype (used by transformers for masks) is the computation's.
    """
    t5_config = T5Config(**{**config, "is_encoder_decoder": False, "use_cache": False})
    with torch.device("meta"):
        model = T5EncoderModel(t5_config)
    model.encoder.set_input_embeddings(model.shared)
    for module in model.modules():
        if type(module) in _CAST_CLASSES:
            module.__class__ = _CAST_CLASSES[type(module)]
    model.weights_cast_on_use = True  # see `nodes.runtime.manage`
    linear_weights = {
        f"{name}.weight" for name, module in model.named_modules() if isinstance(module, nn.Linear)
    }
    expected = set(model.state_dict()) - {TIED_EMBEDDING_KEY}
    missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"T5 encoder weights do not fit a T5 with {config['num_layers']} layers: "
            f"missing {missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} "
            f"({len(unexpected)})"
        )
    for key in list(state_dict):  # one tensor at a time, so only one extra copy is alive
        target = weight_dtype if key in linear_weights else compute_dtype
        state_dict[key] = _to_storage(state_dict[key], target)
    state_dict[TIED_EMBEDDING_KEY] = state_dict[EMBEDDING_KEY]
    try:
        model.load_state_dict(state_dict, strict=True, assign=True)
    except RuntimeError as error:
        raise CheckpointError(f"T5 encoder weights do not fit its config: {error}") from error
    model.encoder.set_input_embeddings(model.shared)
    return model.eval().requires_grad_(False)
