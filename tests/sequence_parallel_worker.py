"""Run by `torchrun` for test_sequence_parallel.py: on every process, the plain forward
(on token counts the processes divide and on one they do not) and sampling of a tiny
STDiT3 beside the sequence-parallel ones, then the error paths and the command line;
process 0 writes what it measured to the JSON file `sys.argv[1]`.

The plain runs here are the single-process result: every process holds the whole model
and the same inputs, so its own plain forward is what one process alone computes.
"""

import json
import sys

import torch
import torch.distributed as dist
from acceleration_helpers import LATENT_THW, forward_inputs, tiny_transformer

from sora_core.acceleration import StepCache
from sora_core.acceleration.sequence_parallel import SequenceParallel, from_environment
from sora_core.cli import generate_main
from sora_core.errors import ConfigError
from sora_core.pipeline import sample_latent, size_conditioning
from sora_core.samplers import build_scheduler

ODD_THW = (5, 6, 6)  # latent whose spatial tokens per frame (9) 2 processes do not divide


def forward(model, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model(**kwargs)


def sample(model, step_cache: StepCache) -> torch.Tensor:
    sampler = build_scheduler(
        {"type": "rflow", "num_sampling_steps": 8, "cfg_scale": 7.0}, release="1.2"
    )
    text = {
        "y": torch.randn(1, 1, 8, 16, generator=torch.Generator().manual_seed(4)),
        "y_null": model.y_embedder.y_embedding[None, None],
        "mask": torch.ones(1, 8, dtype=torch.long),
    }
    latent = torch.randn(1, 4, *LATENT_THW, generator=torch.Generator().manual_seed(2))
    return sample_latent(
        model, sampler, text, latent, noise=3,
        model_kwargs=size_conditioning(1, (64, 64), 17, 24), step_cache=step_cache,
    )  # fmt: skip


def error(call) -> str:
    try:
        call()
    except ConfigError as caught:
        return str(caught)
    return "no error"


def main(out_path: str, save_dir: str) -> None:
    torch.set_num_threads(1)
    parallel = from_environment(torch.device("cpu"))
    result = {"size": parallel.size, "backend": dist.get_backend()}
    model = tiny_transformer("STDiT3")
    plain = {flag: forward(model, **forward_inputs(flag)) for flag in (False, True)}
    # 3 x 3 = 9 spatial tokens per frame: 2 processes hold 5 each, one of them padding.
    plain_odd = {flag: forward(model, **forward_inputs(flag, ODD_THW)) for flag in (False, True)}
    plain_sample = sample(model, StepCache(0.3))
    parallel.install(model)
    exchanges = []
    exchange = parallel.all_to_all
    parallel.all_to_all = lambda *args, **kw: exchanges.append(1) or exchange(*args, **kw)
    for flag in (False, True):
        got = forward(model, **forward_inputs(flag))
        result[f"forward_x_mask_{flag}"] = (got - plain[flag]).abs().max().item()
        got = forward(model, **forward_inputs(flag, ODD_THW))
        result[f"odd_forward_x_mask_{flag}"] = (got - plain_odd[flag]).abs().max().item()
    cache = StepCache(0.3)
    result["exchanges_per_forward"] = len(exchanges) / 4
    result["padding_after_forward"] = parallel.padding
    result["sample"] = (sample(model, cache) - plain_sample).abs().max().item()
    result["sample_computed"] = cache.computed
    three_heads = tiny_transformer("STDiT3")
    three_heads.num_heads = 3  # what a 3-head checkpoint reports
    result["heads"] = error(lambda: SequenceParallel().install(three_heads))
    result["not_stdit3"] = error(lambda: SequenceParallel().install(tiny_transformer("STDiT2")))
    # The command line joins the group already started (and ends it when done).
    flags = ["--demo", "--image-size", "32", "48", "--num-sampling-steps", "2", "--seed", "7"]
    result["cli"] = generate_main([*flags, "--num-frames", "1", "--save-dir", save_dir])
    if parallel.rank == 0:
        with open(out_path, "w") as file:
            json.dump(result, file)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
