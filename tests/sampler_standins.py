"""The fixtures' stand-in model and text encoder (from the sidecars' `standin_model.formula`
and `standin_text_encoder`), and a noise source that replays recorded draws in order."""

import torch

from sora_core.samplers import TextConditioning, as_noise_source


class StandinModel:
    """eps = A x + k tf x + (ybar P)(1 - tf) + bias, var = tanh(V x); records every call."""

    def __init__(self, tensors: dict[str, torch.Tensor], k: float, prefix: str = "standin."):
        self.A = tensors[prefix + "A"]
        self.V = tensors[prefix + "V"]
        self.P = tensors[prefix + "P"]
        self.bias = tensors[prefix + "bias"]
        self.k = k
        self.calls: list[dict] = []

    def __call__(self, x, timestep, y, mask=None, x_mask=None, **_ignored):
        self.calls.append({"x": x, "t": timestep, "x_mask": x_mask, "y": y, "mask": mask})
        n, _, frames = x.shape[:3]
        tf = (timestep.float() / 1000)[:, None].expand(n, frames)  # (N, T)
        if x_mask is not None:
            tf = torch.where(x_mask, tf, torch.zeros_like(tf))
        tf = tf[:, None, :, None, None]
        s = y[:, 0].mean(dim=1) @ self.P  # (N, C)
        eps = (
            torch.einsum("oc,nc...->no...", self.A, x)
            + self.k * tf * x
            + s[:, :, None, None, None] * (1 - tf)
            + self.bias[None, :, None, None, None]
        )
        var = torch.tanh(torch.einsum("oc,nc...->no...", self.V, x))
        return torch.cat([eps, var], dim=1)


class StandinTextEncoder:
    """encode(prompts) -> y_cond[:n], text_attention_mask[:n]; null(n) -> y_null repeated."""

    def __init__(self, tensors: dict[str, torch.Tensor], y_key: str = "y_cond"):
        self.y = tensors[y_key]
        self.mask = tensors["text_attention_mask"]
        self.y_null = tensors.get("y_null")

    def encode(self, prompts):
        n = len(prompts)
        return {"y": self.y[:n], "mask": self.mask[:n]}

    def null(self, n):
        return self.y_null[None].repeat(n, 1, 1)[:, None]


_FUNCTIONS = {"randn": ("randn", "randn_like"), "rand": ("rand",), "randint": ("randint",)}


class ReplayNoise:
    """Hands out the recorded draws in order; a draw of the wrong kind or shape fails."""

    def __init__(self, tensors: dict[str, torch.Tensor], draws: list[dict]):
        self.tensors = tensors
        self.draws = list(draws)
        self.used = 0

    def _next(self, kind: str, shape: tuple[int, ...], device) -> torch.Tensor:
        assert self.used < len(self.draws), f"draw {self.used} ({kind} {shape}) was never recorded"
        draw = self.draws[self.used]
        assert draw["fn"] in _FUNCTIONS[kind], (
            f"draw {self.used}: recorded {draw['fn']}, asked {kind}"
        )
        assert tuple(draw["shape"]) == tuple(shape), (
            f"draw {self.used}: recorded shape {draw['shape']}, asked {tuple(shape)}"
        )
        self.used += 1
        return self.tensors[draw["key"]].to(device)

    def randn(self, shape, device):
        return self._next("randn", shape, device)

    def rand(self, shape, device):
        return self._next("rand", shape, device)

    def randint(self, high, shape, device):
        return self._next("randint", shape, device)

    def assert_all_used(self) -> None:
        assert self.used == len(self.draws), f"used {self.used} of {len(self.draws)} recorded draws"


class RecordingNoise:
    """Wraps a noise source and keeps every draw it hands out."""

    def __init__(self, source):
        self.source = source
        self.draws: list[torch.Tensor] = []

    def _keep(self, value):
        self.draws.append(value)
        return value

    def randn(self, shape, device):
        return self._keep(self.source.randn(shape, device))

    def rand(self, shape, device):
        return self._keep(self.source.rand(shape, device))

    def randint(self, high, shape, device):
        return self._keep(self.source.randint(high, shape, device))


def reference_sample(
    sampler, model, text_encoder, z, prompts, additional_args=None, mask=None, noise=None
):
    """The reference's `scheduler.sample(model, text_encoder, z, prompts, ...)` call: the
    prompts encoded by `text_encoder` with its `null(n)`; `z` the initial latent or (as in
    Open-Sora 1.0) its per-sample size (C, T, H, W), then drawn from `noise` first."""
    noise = as_noise_source(noise)
    encoded = text_encoder.encode(list(prompts))
    text = TextConditioning(
        y=encoded["y"], y_null=text_encoder.null(len(prompts)), mask=encoded.get("mask")
    )
    if not isinstance(z, torch.Tensor):
        z = noise.randn((len(prompts), *z), torch.device("cpu"))
    return sampler.sample(
        model, z, text, model_kwargs=dict(additional_args or {}), frame_mask=mask, noise=noise
    )
