"""The `training` fixture's LinearWarmupLR rates and update_ema step, case by case."""

import pytest
import torch

from golden import assert_close, pipeline_cases, read_json, read_tensors
from sora_core.training import LinearWarmupLR, update_ema

CASES = pipeline_cases("training")


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_linear_warmup_rates_before_each_step_match_reference(case):
    spec = read_json(f"pipeline/{case}.json")["linear_warmup_lr"]
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=spec["base_lr"])
    schedule = LinearWarmupLR(optimizer, warmup_steps=spec["warmup_steps"])
    seen = []
    for _ in spec["lr_before_each_step"]:
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert seen == pytest.approx(spec["lr_before_each_step"], rel=1e-12)


class _EmaSubject(torch.nn.Module):
    # The names the fixture records: a trained linear layer, a frozen vector, a pos_embed.
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.frozen = torch.nn.Parameter(torch.zeros(2), requires_grad=False)
        self.pos_embed = torch.nn.Parameter(torch.zeros(3))


def _filled(tensors: dict, prefix: str) -> _EmaSubject:
    module = _EmaSubject()
    module.load_state_dict(
        {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
    )
    return module


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_update_ema_matches_reference_and_skips_frozen_and_pos_embed(case):
    meta = read_json(f"pipeline/{case}.json")
    tensors = read_tensors(f"pipeline/{meta['tensors_file']}")
    spec = meta["update_ema"]
    assert spec["sharded"] is False
    model, ema = _filled(tensors, "ema.model."), _filled(tensors, "ema.before.")
    update_ema(ema, model, decay=spec["decay"])
    for name, value in ema.state_dict().items():
        assert_close(value, tensors[f"ema.after.{name}"], what=f"{case} ema {name}")
    assert torch.equal(ema.frozen, tensors["ema.before.frozen"])
    assert torch.equal(ema.pos_embed, tensors["ema.before.pos_embed"])
