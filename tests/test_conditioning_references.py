"""Reference media load as the reference's transforms do (`pipeline/reference_loading.*`)."""

import random

import av
import pytest
import torch
from fixture_sections import section_entry, section_params
from standin_vae import StandInVAE

from golden import assert_close, fixtures_dir, read_json, read_tensors
from sora_core.conditioning import (
    add_condition_noise,
    encode_references,
    load_reference,
    load_references,
    split_reference_path,
)
from sora_core.conditioning.transforms import temporal_random_crop, transform_video
from sora_core.errors import ConfigError, ReferenceMediaError, VideoShapeError

FIXTURE = "reference_loading"


def _png():
    return fixtures_dir() / "pipeline" / read_json(f"pipeline/{FIXTURE}.json")["png_file"]


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(FIXTURE, "image_cases", "transform_name"))
def test_image_file_matches_reference(index):
    case = section_entry(FIXTURE, "image_cases", index)
    expected = read_tensors(f"pipeline/{FIXTURE}.safetensors")[case["key"]]
    pixels = load_reference(str(_png()), case["image_size"], case["transform_name"])
    assert list(pixels.shape) == case["output_shape"]
    assert_close(pixels, expected, what=case["key"])


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(FIXTURE, "image_cases", "transform_name"))
def test_comfy_image_frames_match_the_image_file(index):
    case = section_entry(FIXTURE, "image_cases", index)
    tensors = read_tensors(f"pipeline/{FIXTURE}.safetensors")
    frames = tensors["image_uint8_HWC"].float()[None] / 255.0  # ComfyUI IMAGE: (T, H, W, 3)
    pixels = load_reference(frames, case["image_size"], case["transform_name"])
    assert_close(pixels, tensors[case["key"]], what=f"{case['key']} from IMAGE frames")


@pytest.mark.parity
@pytest.mark.parametrize(
    "index", section_params(FIXTURE, "video_transform_cases", "transform_name")
)
def test_video_transform_matches_reference(index):
    case = section_entry(FIXTURE, "video_transform_cases", index)
    tensors = read_tensors(f"pipeline/{FIXTURE}.safetensors")
    frames = transform_video(
        tensors["video_uint8_TCHW"], case["image_size"], case["transform_name"]
    )
    assert list(frames.shape) == case["output_shape"]
    assert_close(frames, tensors[case["key"]], what=case["key"])


def _write_lossless_video(path, frames_thwc):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=8)
        stream.height, stream.width = frames_thwc.shape[1:3]
        stream.pix_fmt = "bgr0"
        for frame in frames_thwc:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.mark.parity
@pytest.mark.parametrize(
    "index", section_params(FIXTURE, "video_transform_cases", "transform_name")
)
def test_video_file_and_comfy_frames_match_reference(index, tmp_path):
    case = section_entry(FIXTURE, "video_transform_cases", index)
    tensors = read_tensors(f"pipeline/{FIXTURE}.safetensors")
    frames_thwc = tensors["video_uint8_TCHW"].permute(0, 2, 3, 1).contiguous()
    expected = tensors[case["key"]].permute(1, 0, 2, 3)  # (3, T, H, W)
    path = tmp_path / "clip.mkv"
    _write_lossless_video(path, frames_thwc.numpy())
    from_file = load_reference(path, case["image_size"], case["transform_name"])
    assert_close(from_file, expected, what=f"{case['key']} decoded with av")
    from_frames = load_reference(
        frames_thwc.float() / 255.0, case["image_size"], case["transform_name"]
    )
    assert_close(from_frames, expected, what=f"{case['key']} from IMAGE frames")


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(FIXTURE, "temporal_random_crop"))
def test_temporal_random_crop_matches_reference(index):
    case = section_entry(FIXTURE, "temporal_random_crop", index)
    call = (case["total_frames"], case["num_frames"], case["frame_interval"])
    rng = random.Random(case["python_random_seed"])
    if case["status"] == "error":
        with pytest.raises(ReferenceMediaError, match="too short"):
            temporal_random_crop(*call, rng=rng)
        return
    assert temporal_random_crop(*call, rng=rng) == case["indices"]


def test_reference_path_lists_split_on_semicolons():
    assert split_reference_path("a.png;b.mp4") == ["a.png", "b.mp4"]
    assert split_reference_path("") == [] and split_reference_path(None) == []


def test_reference_path_string_loads_each_reference():
    png = str(_png())
    references = load_references(f"{png};{png}", (16, 24))
    assert [tuple(r.shape) for r in references] == [(3, 1, 16, 24)] * 2


def test_each_reference_is_encoded_on_its_own():
    vae = StandInVAE()
    pixels = [torch.zeros(3, 1, 16, 24), torch.ones(3, 51, 16, 24)]
    latents = encode_references(vae, [pixels, []])
    assert vae.encoded_shapes == [[1, 3, 1, 16, 24], [1, 3, 51, 16, 24]]
    assert [tuple(z.shape) for z in latents[0]] == [(4, 1, 2, 3), (4, 15, 2, 3)]
    assert latents[1] == []


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ReferenceMediaError, match="does not exist"):
        load_reference(str(tmp_path / "gone.png"), (16, 16))


def test_unreadable_files_are_named(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(ReferenceMediaError, match="cannot be read"):
        load_reference(tmp_path / "bad.png", (16, 16))
    with pytest.raises(ReferenceMediaError, match="cannot be decoded"):
        load_reference(tmp_path / "bad.mp4", (16, 16))


def test_unsupported_extension_and_urls_are_named():
    with pytest.raises(ReferenceMediaError, match="'.gif' is not supported"):
        load_reference("anim.gif", (16, 16))
    with pytest.raises(ReferenceMediaError, match="URL"):
        load_reference("https://example.com/a.png", (16, 16))


def test_bad_frame_tensors_are_named():
    with pytest.raises(ReferenceMediaError, match=r"expected \(T, H, W, 3\)"):
        load_reference(torch.zeros(2, 3, 8, 8), (8, 8))
    with pytest.raises(ReferenceMediaError, match="empty"):
        load_reference(torch.zeros(0, 8, 8, 3), (8, 8))


def test_center_transform_needs_a_square():
    with pytest.raises(VideoShapeError, match="square"):
        load_reference(str(_png()), (16, 24), "center")


def test_condition_noise_has_the_requested_strength():
    pixels = torch.zeros(3, 4, 64, 64)
    generator = torch.Generator().manual_seed(0)
    noisy = add_condition_noise(pixels, 0.1, generator)
    assert abs(noisy.std().item() - 0.1) < 0.005
    assert torch.equal(add_condition_noise(pixels, 0.0), pixels)
    with pytest.raises(ReferenceMediaError, match="noise_strength"):
        add_condition_noise(pixels, 2.0)


def test_noise_strength_reaches_the_encoder():
    vae = StandInVAE()
    clean = encode_references(vae, [[torch.zeros(3, 1, 16, 24)]])[0][0]
    generator = torch.Generator().manual_seed(0)
    noisy = encode_references(
        vae, [[torch.zeros(3, 1, 16, 24)]], noise_strength=0.5, generator=generator
    )
    assert not torch.equal(noisy[0][0], clean)


def test_unknown_transform_is_named():
    with pytest.raises(ConfigError, match="'zoom'"):
        load_reference(str(_png()), (16, 16), "zoom")
