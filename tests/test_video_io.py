"""Samples are written as playable H.264 MP4s (or PNGs) with the requested frames, size and fps."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from sora_core.errors import VideoShapeError
from sora_core.video_io import save_sample, to_uint8_frames


def _read(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        return frames, stream.average_rate, stream.codec_context.name


def test_rounding_matches_the_reference():
    video = torch.tensor([-1.0, -0.5, 0.0, 0.999, 1.0, 2.0]).view(1, 6, 1, 1).expand(3, 6, 1, 1)
    assert to_uint8_frames(video)[:, 0, 0, 0].tolist() == [0, 64, 128, 255, 255, 255]


def test_video_has_requested_frames_size_and_fps(tmp_path):
    video = torch.rand(3, 9, 32, 48) * 2 - 1
    path = save_sample(video, tmp_path / "sample_0000", fps=8)
    frames, rate, codec = _read(path)
    assert path.suffix == ".mp4" and codec == "h264"
    assert len(frames) == 9 and frames[0].shape == (32, 48, 3)
    assert rate == 8


def test_fractional_fps_is_kept(tmp_path):
    path = save_sample(torch.zeros(3, 4, 16, 16), tmp_path / "s", fps=24 / 5)
    assert _read(path)[1] == Fraction(24, 5)


def test_colour_survives_encoding(tmp_path):
    video = torch.zeros(3, 4, 32, 32)
    video[0] = 0.8  # reddish
    frames, _, _ = _read(save_sample(video, tmp_path / "s", fps=8))
    assert np.abs(frames[2].astype(int).mean(axis=(0, 1)) - [230, 128, 128]).max() < 6


def test_single_frame_is_a_png(tmp_path):
    path = save_sample(torch.zeros(3, 1, 20, 30), tmp_path / "image", fps=8)
    assert path.suffix == ".png"
    assert Image.open(path).size == (30, 20)


def test_odd_sides_are_cropped_to_even_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="even"):
        path = save_sample(torch.zeros(3, 3, 17, 31), tmp_path / "odd", fps=8)
    assert _read(path)[0][0].shape == (16, 30, 3)


def test_wrong_shape_is_named():
    with pytest.raises(VideoShapeError, match=r"\[3, T, H, W\]"):
        to_uint8_frames(torch.zeros(4, 2, 8, 8))
