"""A folder of clips/images with same-named .txt captions becomes Open-Sora's training table."""

import numpy as np
import pytest
import torch
from PIL import Image

from sora_core.datasets.caption_folder import write_caption_table
from sora_core.datasets.rows import read_rows
from sora_core.errors import DatasetError
from sora_core.video_io import save_sample


def clip(path, frames=9, size=(32, 48)):
    video = torch.rand(3, frames, *size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return save_sample(video, path, fps=12)


def still(path, size=(40, 24)):
    Image.fromarray(np.zeros((*size, 3), dtype=np.uint8)).save(path)
    return path


def test_clips_and_images_with_captions_become_a_table_read_rows_accepts(tmp_path):
    clip(tmp_path / "fox")
    (tmp_path / "fox.txt").write_text("a red fox runs\n")
    (tmp_path / "stills").mkdir()
    still(tmp_path / "stills" / "owl.png")
    (tmp_path / "stills" / "owl.txt").write_text("an owl")
    table = write_caption_table(tmp_path, tmp_path / "out" / "data.csv")
    rows = read_rows(table)
    assert [(row.text, row.num_frames, row.height, row.width) for row in rows] == [
        ("a red fox runs", 9, 32, 48),
        ("an owl", 1, 40, 24),
    ]
    assert all(row.problem is None for row in rows)


def test_missing_and_empty_captions_and_empty_folders_are_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        write_caption_table(tmp_path / "absent", tmp_path / "t.csv")
    (tmp_path / "notes.txt").write_text("no media here")
    with pytest.raises(DatasetError, match="holds no clips"):
        write_caption_table(tmp_path, tmp_path / "t.csv")
    still(tmp_path / "a.png")
    with pytest.raises(DatasetError, match=r"have no caption \['a.png'\]"):
        write_caption_table(tmp_path, tmp_path / "t.csv")
    (tmp_path / "a.txt").write_text("  \n")
    with pytest.raises(DatasetError, match=r"empty caption\(s\) \['a.txt'\]"):
        write_caption_table(tmp_path, tmp_path / "t.csv")
    (tmp_path / "a.txt").write_text("ok")
    (tmp_path / "b.png").write_bytes(b"not an image")
    (tmp_path / "b.txt").write_text("broken")
    with pytest.raises(DatasetError, match="b.png.*cannot be read"):
        write_caption_table(tmp_path, tmp_path / "t.csv")
