"""The exponential moving average of the transformer's weights that Open-Sora releases."""

import copy

import torch


def build_ema(model: torch.nn.Module) -> torch.nn.Module:
    """An fp32, frozen, eval-mode copy of `model` (the EMA starts equal to the model)."""
    ema = copy.deepcopy(model).float().eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float = 0.9999) -> None:
    """ema = decay * ema + (1 - decay) * model for every trained parameter except `pos_embed`.

    As `opensora/utils/train_utils.py: update_ema` (unsharded): frozen parameters
    (requires_grad False) and a parameter named exactly `pos_embed` keep their EMA value.
    The model's parameters are fp32 masters here (mixed precision is autocast), so no
    master-weight lookup is needed; under FSDP2 both sides are sharded alike.
    """
    ema_params = dict(ema.named_parameters())
    for name, param in model.named_parameters():
        if name == "pos_embed" or not param.requires_grad:
            continue
        ema_params[name].mul_(decay).add_(
            param.detach().to(ema_params[name].dtype), alpha=1 - decay
        )
