"""`opensora-generate --lora PATH[:STRENGTH]` with the embedded demo model."""

import numpy as np
import pytest
import torch
from PIL import Image

from sora_core.checkpoints import build_model
from sora_core.cli import generate_main
from sora_core.cli.generate_plan import parse_lora
from sora_core.demo.embedded import embedded_config
from sora_core.demo.text_encoder import CAPTION_CHANNELS
from sora_core.errors import ConfigError
from sora_core.lora import add_lora, save_lora

FLAGS = ["--demo", "--image-size", "32", "48", "--num-frames", "1", "--num-sampling-steps", "2"]


def adapter(path, seed: int, **model_overrides):
    """A LoRA with random (trained-looking) weights for the demo transformer's widths."""
    torch.manual_seed(seed)
    architecture = {
        **embedded_config()["model"],
        "from_pretrained": None,
        "caption_channels": CAPTION_CHANNELS,
        "model_max_length": 16,
    }
    model = build_model({**architecture, **model_overrides})
    attached = add_lora(model, {"rank": 4, "alpha": 4, "targets": ["attn", "mlp"]})
    with torch.no_grad():
        for param in attached.parameters():
            param.normal_(0, 1.0)
    return save_lora(attached.weights(), path)


def generate(tmp_path, name: str, *flags) -> np.ndarray:
    argv = [*FLAGS, "--save-dir", str(tmp_path / name), "--prompt", "a fox", *flags]
    assert generate_main(argv) == 0
    return np.asarray(Image.open(tmp_path / name / "sample_0000.png"), dtype=np.int16)


def test_adapters_change_the_video_stack_and_strength_zero_changes_nothing(tmp_path):
    style = adapter(tmp_path / "style.safetensors", seed=1)
    motion = adapter(tmp_path / "motion.safetensors", seed=2)
    plain = generate(tmp_path, "plain")
    assert np.array_equal(generate(tmp_path, "zero", "--lora", f"{style}:0"), plain)
    one = generate(tmp_path, "one", "--lora", str(style))
    assert np.abs(one - plain).mean() > 0.5
    both = generate(tmp_path, "both", "--lora", str(style), "--lora", f"{motion}:0.5")
    assert np.abs(both - one).mean() > 0.3


def test_an_adapter_for_another_width_is_refused_with_its_name(tmp_path, capsys):
    other = adapter(tmp_path / "wide.safetensors", seed=1, hidden_size=128)
    assert generate_main([*FLAGS, "--save-dir", str(tmp_path), "--lora", str(other)]) == 2
    error = capsys.readouterr().err
    assert "wide.safetensors" in error and "hidden_size" in error and "Traceback" not in error


@pytest.mark.parametrize(
    "spec,strength", [("{}", 1.0), ("{}:0.25", 0.25), ("{}:-1", -1.0)], ids=["bare", "0.25", "-1"]
)
def test_lora_flag_takes_an_optional_strength(tmp_path, spec, strength):
    path = tmp_path / "a:b.safetensors"  # a colon in the name is part of the path
    path.write_bytes(b"")
    assert parse_lora(spec.format(path)) == (path, strength)
    with pytest.raises(ConfigError, match="PATH"):
        parse_lora(str(tmp_path / "absent.safetensors"))


def test_lora_flag_takes_a_lora_runs_checkpoint_folder(tmp_path):
    folder = tmp_path / "epoch0-global_step4"
    adapter(folder / "lora.safetensors", seed=3)
    assert parse_lora(f"{folder}:0.5") == (folder / "lora.safetensors", 0.5)
    with pytest.raises(ConfigError, match="holds no lora.safetensors"):
        parse_lora(str(tmp_path))
