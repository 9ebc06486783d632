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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("num_frames = 10 ** 10 ** 10\n", r"10 \*\* 10000000000 is too big"),
        ("x = 2 ** 300\n", "too big"),
        ("x = (10 ** 70) * (10 ** 70)\n", "integer of .* bits is too big"),
        ("prompt = ['a' * 10 ** 9]\n", "repeated 1000000000 times is too big"),
        ("x = 'a' * 60000\ny = x + x\n", "str of 120000 items is too big"),
        ("x = '%999999999d' % 1\n", "%-formatting is not allowed"),
        ("x = " + "(" * 60 + "1" + ")" * 60 + " + " + " + ".join(["1"] * 200) + "\n", "deep"),
        ("x = " + "-" * 100_000 + "1\n", "deep"),
        ("x = " + "[" * 1000 + "]" * 1000 + "\n", "not valid Python|deep"),
        ("x = 1 / 0\n", r"x = 1 / 0: ZeroDivisionError"),
        ("x = 'a' - 1\n", "TypeError"),
        ("x = [1][5]\n", "IndexError"),
        ("x = {[1]: 2}\n", "TypeError"),
        ("x = dict(1)\n", "TypeError"),
    ],
)
def test_config_arithmetic_is_bounded_and_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, "c.py", text))


def test_nothing_is_evaluated_in_a_file_that_will_be_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.py:2: Import"):
        load_config(_write(tmp_path, "c.py", "x = 1 / 0\nimport os\n"))


@pytest.mark.parametrize("bases", ["5", "[1, 2]", "dict(a=1)"])
def test_base_must_name_files(tmp_path, bases):
    with pytest.raises(ConfigError, match="_base_ = .* must be a file name or a list"):
        load_config(_write(tmp_path, "c.py", f"_base_ = {bases}\n"))


def test_each_base_file_is_read_once(tmp_path, monkeypatch):
    from sora_core.cli import config_files

    for level in range(10):
        _write(tmp_path, f"l{level}.py", f"_base_ = ['l{level + 1}.py', 'l{level + 1}.py']\n")
    _write(tmp_path, "l10.py", "seed = 7\n")
    reads = []
    read = config_files._read_python_config
    monkeypatch.setattr(config_files, "_read_python_config", lambda p: reads.append(p) or read(p))
    assert load_config(tmp_path / "l0.py") == {"seed": 7}
    assert len(reads) == 11  # a diamond per level: 2**11 - 1 reads before


def test_too_many_base_files_is_named(tmp_path):
    for level in range(70):
        _write(tmp_path, f"l{level}.py", f"_base_ = 'l{level + 1}.py'\n")
    _write(tmp_path, "l70.py", "seed = 7\n")
    with pytest.raises(ConfigError, match="more than 64 files"):
        load_config(tmp_path / "l0.py")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.json", b'{"seed": ' + b"9" * 5000 + b"}", "not a usable JSON config"),
        ("c.json", b'{"seed": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not a usable JSON"),
        ("c.py", b"seed = '\xff'\n", "not UTF-8"),
        ("c.yaml", b"seed: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "not .* YAML"),
        ("c.py", b"# " + b"x" * (1 << 20) + b"\n", "a config file is at most"),
    ],
)
def test_damaged_data_configs_are_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
