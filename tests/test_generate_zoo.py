"""`opensora-generate` with DiT, Latte and PixArt: the reference's inference configs parse,
plan and build, and tiny checkpoints in the release layouts run end to end (class labels as
prompts, PNG for one frame, PixArt's T5 captions and PixArtMS's size conditioning)."""

import json

import pytest
import torch
from tiny_models import TINY_IMAGE_MODEL as TINY
from tiny_models import write_release_file
from vae_helpers import tiny_sd_config

from golden import fixtures_dir
from sora_core.checkpoints import build_model
from sora_core.cli import generate_main
from sora_core.cli.config_files import load_config
from sora_core.cli.generate_plan import plan_generation
from sora_core.errors import MaskStrategyError
from sora_core.pipeline.sampling import model_frame_mask

# configs/{dit,latte,pixart}/inference/* of Open-Sora v1.2.0 (the model-related lines).
SD_VAE = 'vae = dict(type="VideoAutoencoderKL", from_pretrained="stabilityai/sd-vae-ft-ema")\n'
T5 = 'text_encoder = dict(type="t5", from_pretrained="DeepFloyd/t5-v1_1-xxl", model_max_length=120)\n'
REFERENCE_CONFIGS = {
    "dit_1x256x256-class.py": f"""
num_frames = 1
fps = 1
image_size = (256, 256)
model = dict(type="DiT-XL/2", no_temporal_pos_emb=True, condition="label_1000",
             from_pretrained="DiT-XL-2-256x256.pt")
{SD_VAE}text_encoder = dict(type="classes", num_classes=1000)
scheduler = dict(type="dpm-solver", num_sampling_steps=20, cfg_scale=4.0)
dtype = "bf16"
batch_size = 2
seed = 42
prompt = ["279", "388"]
""",
    "latte_16x256x256-class.py": f"""
num_frames = 16
fps = 8
image_size = (256, 256)
model = dict(type="Latte-XL/2", condition="label_101",
             from_pretrained="Latte-XL-2-256x256-ucf101.pt")
{SD_VAE}text_encoder = dict(type="classes", num_classes=101)
scheduler = dict(type="dpm-solver", num_sampling_steps=20, cfg_scale=4.0)
dtype = "bf16"
prompt = ["0"]
""",
    "pixart_1x512x512.py": f"""
num_frames = 1
fps = 1
image_size = (512, 512)
model = dict(type="PixArt-XL/2", space_scale=1.0, time_scale=1.0, no_temporal_pos_emb=True,
             from_pretrained="PixArt-XL-2-512x512.pth")
{SD_VAE}{T5}scheduler = dict(type="dpm-solver", num_sampling_steps=20, cfg_scale=7.0)
dtype = "bf16"
prompt = ["Pirate ship trapped in a cosmic maelstrom nebula."]
""",
    "pixart_1x1024MS.py": f"""
num_frames = 1
fps = 1
image_size = (1920, 512)
multi_resolution = "PixArtMS"
model = dict(type="PixArtMS-XL/2", space_scale=2.0, time_scale=1.0, no_temporal_pos_emb=True,
             from_pretrained="PixArt-XL-2-1024-MS.pth")
{SD_VAE}{T5}scheduler = dict(type="dpm-solver", num_sampling_steps=20, cfg_scale=7.0)
dtype = "bf16"
prompt = ["A small cactus with a happy face in the Sahara desert."]
""",
    "pixart_16x256x256.py": f"""
num_frames = 16
fps = 8
image_size = (256, 256)
model = dict(type="PixArt-XL/2", space_scale=0.5, time_scale=1.0,
             from_pretrained="outputs/model_ckpt.pt")
{SD_VAE}{T5}scheduler = dict(type="dpm-solver", num_sampling_steps=20, cfg_scale=7.0)
dtype = "bf16"
prompt = ["a fox"]
""",
}

TINY_VAE = tiny_sd_config(micro_batch_size=4)  # a 4-channel SD-style VAE at toy widths


@pytest.mark.parametrize("name", sorted(REFERENCE_CONFIGS))
def test_reference_configs_parse_plan_and_build(name, tmp_path):
    path = tmp_path / name
    path.write_text(REFERENCE_CONFIGS[name])
    config = load_config(path)
    # planning resolves checkpoint names; these tests have no release files
    unnamed = {
        section: {k: v for k, v in config[section].items() if k != "from_pretrained"}
        for section in ("model", "vae", "text_encoder")
    }
    plan = plan_generation({**config, **unnamed})
    frames, (height, width) = config["num_frames"], config["image_size"]
    model_config = {k: v for k, v in config["model"].items() if k != "from_pretrained"}
    with torch.device("meta"):
        model = build_model({**model_config, "input_size": (frames, height // 8, width // 8)})
    assert model.takes_frame_mask is False
    assert plan.clip.num_frames == frames


def _run(tmp_path, config: dict) -> int:
    config = {"dtype": "fp32", "seed": 1, "save_dir": str(tmp_path / "out"), **config}
    (tmp_path / "config.json").write_text(json.dumps(config))
    return generate_main([str(tmp_path / "config.json")])


def _dit_class_config(tmp_path, prompts: list) -> dict:
    """The DiT ImageNet config's shape: a tiny class-conditional DiT in the release layout."""
    torch.manual_seed(0)
    dit = build_model({"type": "DiT", "input_size": (1, 4, 4), "condition": "label_10", **TINY})
    return {
        "num_frames": 1,
        "fps": 1,
        "image_size": [32, 32],
        "batch_size": 2,
        "prompt": prompts,
        "model": {
            "type": "DiT-XL/2",
            "no_temporal_pos_emb": True,
            "condition": "label_10",
            "from_pretrained": str(write_release_file(tmp_path / "DiT.pt", dit, None)),
        },
        "vae": TINY_VAE,
        "text_encoder": {"type": "classes", "num_classes": 10},
        "scheduler": {"type": "dpm-solver", "num_sampling_steps": 2, "cfg_scale": 4.0},
    }


def test_dit_class_labels_make_png_images(tmp_path):
    assert _run(tmp_path, _dit_class_config(tmp_path, ["3", "7"])) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "sample_0000.png",
        "sample_0001.png",
    ]


def test_a_class_label_out_of_range_is_named(tmp_path, capsys):
    assert _run(tmp_path, _dit_class_config(tmp_path, ["10"])) == 2
    assert "class label '10' is out of range" in capsys.readouterr().err


def test_latte_class_video_with_iddpm(tmp_path):
    torch.manual_seed(0)
    latte = build_model({"type": "Latte", "input_size": (3, 4, 4), "condition": "label_5", **TINY})
    config = {
        "num_frames": 3,
        "fps": 8,
        "image_size": [32, 32],
        "prompt": ["4"],
        "model": {
            "type": "Latte-XL/2",
            "condition": "label_5",
            "from_pretrained": str(write_release_file(tmp_path / "ucf.pt", latte, "ema")),
        },
        "vae": TINY_VAE,
        "text_encoder": {"type": "classes", "num_classes": 5},
        "scheduler": {"type": "iddpm", "num_sampling_steps": 2, "cfg_scale": 4.0},
    }
    assert _run(tmp_path, config) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["sample_0000.mp4"]


def test_pixartms_t5_captions_with_size_conditioning(tmp_path):
    torch.manual_seed(0)
    pixart = build_model(
        {
            "type": "PixArtMS",
            "input_size": (1, 4, 6),
            "caption_channels": 32,
            "model_max_length": 16,
            "depth": 2,
            "hidden_size": 48,
            "num_heads": 4,
        }
    )
    config = {
        "num_frames": 1,
        "fps": 1,
        "image_size": [32, 48],
        "multi_resolution": "PixArtMS",
        "prompt": ["a red fox"],
        "model": {
            "type": "PixArtMS-XL/2",
            "space_scale": 2.0,
            "no_temporal_pos_emb": True,
            "from_pretrained": str(write_release_file(tmp_path / "ms.pth", pixart, "state_dict")),
        },
        "vae": TINY_VAE,
        "text_encoder": {
            "type": "t5",
            "model_max_length": 16,
            "from_pretrained": str(fixtures_dir() / "text" / "tiny_t5"),
        },
        "scheduler": {"type": "dpm-solver", "num_sampling_steps": 2, "cfg_scale": 7.0},
    }
    assert _run(tmp_path, config) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["sample_0000.png"]


def test_conditioning_frames_are_refused_by_models_without_a_frame_mask():
    with torch.device("meta"):
        dit = build_model({"type": "DiT", "input_size": (2, 4, 4), "condition": "label_3", **TINY})
    assert model_frame_mask(dit, torch.ones(1, 2)) is None
    with pytest.raises(MaskStrategyError, match="DiT generates every frame"):
        model_frame_mask(dit, torch.tensor([[0.0, 1.0]]))
