"""The pipeline's building blocks, as the command line and the ComfyUI nodes call them."""

import contextlib

import pytest
import torch

from golden import fixtures_dir
from sora_core.checkpoints import load_text_encoder, load_transformer
from sora_core.conditioning import apply_mask_strategy
from sora_core.demo.embedded import load_embedded_models
from sora_core.errors import ConfigError
from sora_core.pipeline import (
    Placement,
    draw_latent,
    encode_prompts,
    generate_batch,
    sample_latent,
    size_conditioning,
    working,
)
from sora_core.pipeline import codec as codec_module
from sora_core.pipeline import generate as generate_module
from sora_core.samplers import GeneratorNoise, build_scheduler
from sora_core.text import prepare_prompts

STEPS = {"type": "rflow", "use_timestep_transform": True, "num_sampling_steps": 2}


@pytest.fixture(scope="module")
def transformer():
    return load_transformer(fixtures_dir() / "checkpoints" / "stdit3_hf", dtype="fp32")


@pytest.fixture(scope="module")
def text_encoder():
    return load_text_encoder(fixtures_dir() / "text" / "tiny_t5", dtype="fp32", cache_size=0)


class CountingEncoder:
    """A text encoder that counts how many texts it was asked to encode."""

    def __init__(self, inner):
        self.inner, self.texts = inner, []

    def encode(self, texts):
        self.texts.extend(texts)
        return self.inner.encode(texts)


def test_loop_prompts_are_encoded_once_per_distinct_text(transformer, text_encoder):
    counting = CountingEncoder(text_encoder)
    encoding = encode_prompts(counting, prepare_prompts(["|0|a fox.|2|a cat."]), loops=4)
    assert counting.texts == ["a fox.", "a cat."]
    assert encoding.for_loop(0) is encoding.for_loop(1)
    assert not torch.equal(encoding.for_loop(1).y, encoding.for_loop(2).y)
    text = encoding.conditioning(0, transformer)
    assert text.y_null.shape == text.y.shape


def test_without_a_loop_count_every_segment_is_encoded_and_the_last_carries_on(text_encoder):
    counting = CountingEncoder(text_encoder)
    encoding = encode_prompts(counting, prepare_prompts(["|0|a fox.|2|a cat."]))
    assert counting.texts == ["a fox.", "a cat."] and len(encoding.per_loop) == 3
    assert encoding.for_loop(7) is encoding.for_loop(2)


def _clip(transformer, text_encoder, seed, reference=None):
    prompts = prepare_prompts(["a fox in the snow"])
    text = encode_prompts(text_encoder, prompts).conditioning(0, transformer)
    noise = GeneratorNoise(seed)
    latent = draw_latent(noise, 1, 4, [5, 4, 4])
    frame_mask = None
    if reference is not None:
        frame_mask = apply_mask_strategy(latent, [[reference]], ["0"])
    return sample_latent(
        transformer,
        build_scheduler(STEPS),
        text,
        latent,
        noise=noise,
        frame_mask=frame_mask,
        model_kwargs=size_conditioning(1, (32, 32), 17, 24),
    )


def test_a_seed_reproduces_a_clip_and_another_seed_does_not(transformer, text_encoder):
    first = _clip(transformer, text_encoder, seed=5)
    assert torch.equal(first, _clip(transformer, text_encoder, seed=5))
    assert not torch.allclose(first, _clip(transformer, text_encoder, seed=6))


def test_image_condition_keeps_its_latent_frame_exactly(transformer, text_encoder):
    reference = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    clip = _clip(transformer, text_encoder, seed=5, reference=reference)
    assert torch.equal(clip[0, :, 0], reference[:, 0])
    assert not torch.equal(clip[0, :, 1], reference[:, 0])


class MoveRecorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.moves = []

    def to(self, device, *args, **kwargs):
        self.moves.append(str(device))
        return self


def test_working_moves_a_model_in_and_back_out():
    module = MoveRecorder()
    placement = Placement(torch.device("mps"), torch.float32, torch.device("cpu"))
    with working(module, placement):
        assert module.moves == ["mps"]
    assert module.moves == ["mps", "cpu"]


def test_generation_keeps_one_model_at_a_time_on_the_device(monkeypatch):
    events = []

    @contextlib.contextmanager
    def recording(module, placement):
        events.append(("in", type(module).__name__))
        yield
        events.append(("out", type(module).__name__))

    monkeypatch.setattr(generate_module, "working", recording)
    monkeypatch.setattr(codec_module, "working", recording)
    models = load_embedded_models(Placement.create("cpu", "fp32"), num_sampling_steps=1)
    settings = generate_module.default_clip_settings(
        "1.2", image_size=(32, 32), num_frames=17, long_video=None
    )
    encoding = encode_prompts(models.text_encoder, prepare_prompts(["a fox"]))
    generate_batch(models, encoding, settings, noise=1)
    transformer, vae = type(models.transformer).__name__, type(models.vae).__name__
    assert events == [("in", transformer), ("out", transformer), ("in", vae), ("out", vae)]


def test_placement_rejects_what_cannot_run():
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            Placement.create("cuda", "fp32")
    with pytest.raises(ConfigError, match="fp32, bf16 or fp16"):
        Placement.create("cpu", "fp8")
    with pytest.raises(ConfigError, match="not a device name"):
        Placement.create("gpu0", "fp32")
