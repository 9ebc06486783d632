"""`opensora-generate` reads Open-Sora configs and every flag of the reference's inference script."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sora_core.cli.generate_config import DEFAULT_CONFIG, resolve_generate_config
from sora_core.errors import ConfigError

ALL_FLAGS = [
    "--seed",
    "7",
    "--ckpt-path",
    "ckpt.safetensors",
    "--batch-size",
    "2",
    "--save-dir",
    "out",
    "--sample-name",
    "run",
    "--start-index",
    "1",
    "--end-index",
    "3",
    "--num-sample",
    "2",
    "--prompt-as-path",
    "--prompt-path",
    "prompts.txt",
    "--prompt",
    "a cat",
    "a dog",
    "--num-frames",
    "4s",
    "--fps",
    "12",
    "--image-size",
    "240",
    "426",
    "--resolution",
    "480p",
    "--aspect-ratio",
    "16:9",
    "--num-sampling-steps",
    "10",
    "--cfg-scale",
    "4.5",
    "--loop",
    "3",
    "--condition-frame-length",
    "4",
    "--reference-path",
    "a.png",
    "b.mp4",
    "--mask-strategy",
    "0",
    "0,0,0,-8,8",
    "--dtype",
    "fp32",
    "--device",
    "cpu",
    "--aes",
    "6.0",
    "--flow",
    "3.0",
    "--camera-motion",
    "pan right",
    "--frame-interval",
    "2",
]


def test_every_reference_flag_is_parsed_and_merged():
    config, _ = resolve_generate_config(ALL_FLAGS)
    assert config["seed"] == 7 and config["batch_size"] == 2 and config["save_dir"] == "out"
    assert config["model"]["from_pretrained"] == "ckpt.safetensors"
    assert (
        config["scheduler"]["num_sampling_steps"] == 10 and config["scheduler"]["cfg_scale"] == 4.5
    )
    assert config["prompt"] == ["a cat", "a dog"] and config["prompt_as_path"] is True
    assert config["image_size"] == (240, 426) and config["num_frames"] == "4s"
    assert config["reference_path"] == ["a.png", "b.mp4"]
    assert config["mask_strategy"] == ["0", "0,0,0,-8,8"]
    assert (config["aes"], config["flow"], config["camera_motion"]) == (6.0, 3.0, "pan right")
    assert (config["loop"], config["condition_frame_length"]) == (3, 4)
    assert (config["dtype"], config["device"], config["frame_interval"]) == ("fp32", "cpu", 2)


def test_defaults_are_open_sora_1_2_sample_config():
    config, _ = resolve_generate_config([])
    assert config == DEFAULT_CONFIG
    assert config is not DEFAULT_CONFIG


def test_flags_override_a_config_file(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text(
        'num_frames = 16\nscheduler = dict(type="iddpm", num_sampling_steps=100, cfg_scale=7.0)\n'
        'model = dict(type="STDiT2-XL/2", from_pretrained="old")\n'
    )
    config, _ = resolve_generate_config(
        [str(path), "--num-sampling-steps", "20", "--ckpt-path", "new"]
    )
    assert config["scheduler"] == {"type": "iddpm", "num_sampling_steps": 20, "cfg_scale": 7.0}
    assert config["model"] == {"type": "STDiT2-XL/2", "from_pretrained": "new"}
    assert config["num_frames"] == 16


def test_unknown_config_key_is_named(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text("num_frame = 16\n")
    with pytest.raises(
        ConfigError, match=r"sample\.py: unknown inference setting\(s\) \['num_frame'\]"
    ):
        resolve_generate_config([str(path)])


def test_model_section_must_be_a_dict(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text('vae = "OpenSoraVAE_V1_2"\n')
    with pytest.raises(ConfigError, match="'vae' must be a dict"):
        resolve_generate_config([str(path)])


def test_unknown_flag_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        resolve_generate_config(["--frames", "3"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --frames" in capsys.readouterr().err


def test_help_and_wrong_flags_answer_before_torch_is_imported():
    # `--help` and argument errors must not wait for torch and the models to import.
    code = (
        "import sys\n"
        "from sora_core.cli import generate_main\n"
        "for argv in (['--help'], ['--frames', '3']):\n"
        "    try:\n"
        "        generate_main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
    )
    assert "usage: opensora-generate" in done.stdout
    assert "unrecognized arguments: --frames" in done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
