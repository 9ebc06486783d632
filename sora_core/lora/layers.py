"""A Linear layer with low-rank adapters beside its frozen weight.

`LoRALinear` keeps the wrapped layer's own `weight`/`bias` parameters (same tensors, same
state-dict keys), so a model with adapters still loads and saves its base checkpoint.
"""

import math

import torch
import torch.nn as nn

from ..models.layers import Linear


class LoRAAdapter(nn.Module):
    """`strength * alpha / rank * B(A(dropout(x)))`, computed in the adapter's own dtype.

    PEFT's layout and initialisation: `lora_A` `[rank, in]` Kaiming-uniform, `lora_B`
    `[out, rank]` zeros, so a fresh adapter changes nothing.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        alpha: float,
        dropout: float = 0.0,
        strength: float = 1.0,
        dtype: torch.dtype = torch.float32,
        device=None,
    ):
        super().__init__()
        self.lora_A = nn.Linear(in_features, rank, bias=False, dtype=dtype, device=device)
        self.lora_B = nn.Linear(rank, out_features, bias=False, dtype=dtype, device=device)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.scaling = alpha / rank
        self.strength = strength

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x [..., in] -> [..., out]; fp32 adapters over a bf16/fp8 base upcast here.
        update = self.lora_B(self.lora_A(self.dropout(x.to(self.lora_A.weight.dtype))))
        return update * (self.scaling * self.strength)


class LoRALinear(Linear):
    """A `Linear` whose output also sums its adapters' outputs (`adapters`, in order)."""

    def __init__(self, base: Linear):
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias  # shared, not copied
        self.adapters = nn.ModuleList()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        for adapter in self.adapters:
            out = out + adapter(x).to(out.dtype)
        return out

    def unwrapped(self) -> Linear:
        """A plain `Linear` over the same weight and bias tensors."""
        plain = Linear.__new__(Linear)
        nn.Module.__init__(plain)
        plain.in_features, plain.out_features = self.in_features, self.out_features
        plain.weight, plain.bias = self.weight, self.bias
        return plain
