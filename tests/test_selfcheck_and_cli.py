"""The self-check exercises the runtime; commands fail clearly instead of crashing."""

from sora_core import cli, selfcheck
from sora_core.dtypes import resolve_dtype
from sora_core.errors import ConfigError


def test_selfcheck_writes_and_reads_a_video(tmp_path):
    path = selfcheck.check_video_io(tmp_path, frames=5, size=32)
    assert path.stat().st_size > 0


def test_selfcheck_main_passes(capsys):
    assert selfcheck.main(["--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "self-check passed" in out and "`opensora-generate` makes a video" in out


def test_train_command_names_a_missing_config_file(capsys, tmp_path):
    assert cli.train_main([str(tmp_path / "nowhere.py"), "--data-path", "x.csv"]) == 2
    assert "nowhere.py" in capsys.readouterr().err


def test_dtype_names_resolve():
    import torch

    assert resolve_dtype("bf16") is torch.bfloat16
    assert resolve_dtype("torch.float16") is torch.float16
    assert resolve_dtype(None) is torch.float32


def test_unknown_dtype_names_the_allowed_values():
    import pytest

    with pytest.raises(ConfigError, match="bf16"):
        resolve_dtype("int4")
