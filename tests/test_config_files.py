"""Open-Sora's config files are read without executing them."""

import pytest
from config_samples import SAMPLE_V12

from sora_core.cli.config_files import load_config, merge_configs
from sora_core.errors import ConfigError


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_the_reference_inference_config(tmp_path):
    config = load_config(_write(tmp_path, "sample.py", SAMPLE_V12))
    assert config["model"]["type"] == "STDiT3-XL/2"
    assert config["vae"]["micro_frame_size"] == 17
    assert config["scheduler"] == {
        "type": "rflow",
        "use_timestep_transform": True,
        "num_sampling_steps": 30,
        "cfg_scale": 7.0,
    }
    assert config["flow"] is None and config["aes"] == 6.5


def test_arithmetic_tuples_and_earlier_names(tmp_path):
    text = "size = 240\nimage_size = (size, size * 16 // 9)\nframes = [1, -2]\nbase = dict(a=1)\nx = dict(base, b=2 ** 3)\n"
    config = load_config(_write(tmp_path, "c.py", text))
    assert config["image_size"] == (240, 426)
    assert config["frames"] == [1, -2]
    assert config["x"] == {"a": 1, "b": 8}


def test_base_inheritance_merges_dicts(tmp_path):
    _write(tmp_path, "base.py", 'model = dict(type="STDiT3-XL/2", qk_norm=True)\nseed = 1\n')
    child = _write(
        tmp_path, "child.py", '_base_ = ["base.py"]\nmodel = dict(from_pretrained="x")\nseed = 2\n'
    )
    config = load_config(child)
    assert config["model"] == {"type": "STDiT3-XL/2", "qk_norm": True, "from_pretrained": "x"}
    assert config["seed"] == 2 and "_base_" not in config


def test_delete_replaces_an_inherited_dict():
    merged = merge_configs({"vae": {"type": "a", "x": 1}}, {"vae": {"_delete_": True, "type": "b"}})
    assert merged == {"vae": {"type": "b"}}


def test_json_and_yaml_configs(tmp_path):
    assert load_config(_write(tmp_path, "c.json", '{"num_frames": 51}')) == {"num_frames": 51}
    assert load_config(_write(tmp_path, "c.yaml", "num_frames: 51\nmodel:\n  type: STDiT3\n")) == {
        "num_frames": 51,
        "model": {"type": "STDiT3"},
    }


@pytest.mark.parametrize(
    "text, what",
    [
        ("import os\n", "Import"),
        ("x = __import__('os').system('true')\n", "calling"),
        ("x = open('f').read()\n", "calling"),
        ("def f():\n    pass\n", "FunctionDef"),
        ("x = [i for i in range(3)]\n", "ListComp"),
        ("x = (lambda: 1)()\n", "calling"),
        ("x = y\n", "before it is assigned"),
        ("x = ().__class__\n", "Attribute"),
    ],
)
def test_code_is_rejected_with_file_and_line(tmp_path, text, what):
    path = _write(tmp_path, "evil.py", "seed = 1\n" + text)
    with pytest.raises(ConfigError, match=rf"evil\.py:2: .*{what}"):
        load_config(path)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.py")
    with pytest.raises(ConfigError, match=r"\.yaml"):
        load_config(_write(tmp_path, "c.toml", "a = 1"))


def test_inheritance_loop_is_an_error(tmp_path):
    _write(tmp_path, "a.py", '_base_ = "b.py"\n')
    _write(tmp_path, "b.py", '_base_ = "a.py"\n')
    with pytest.raises(ConfigError, match="loops back"):
        load_config(tmp_path / "a.py")
