"""Resolution tables and size helpers match the reference (`pipeline/geometry.json`, `aspect_tables.json`, `prompts.json`)."""

import pytest
import torch
from fixture_sections import section_entry, section_params

from golden import read_json
from sora_core.aspect_tables import ASPECT_RATIO_MAP, ASPECT_RATIOS, NUM_FRAMES_MAP
from sora_core.errors import ConfigError, VideoShapeError
from sora_core.geometry import (
    IMG_FPS,
    aspect_ratio_sizes,
    closest_image_size,
    dframe_to_frame,
    get_closest_ratio,
    get_image_size,
    get_num_frames,
    latent_size,
    max_hxw_size,
    num_pixels,
    pixel_frame_to_latent,
    prepare_multi_resolution_info,
)
from sora_core.naming import save_path_name

GEOMETRY = "geometry"
LATENT_COLUMNS = {
    "VideoAutoencoderKL": ("VideoAutoencoderKL", None),
    "pipeline_micro_frame_size_17": ("OpenSoraVAE_V1_2", 17),
    "pipeline_micro_frame_size_None": ("VideoAutoencoderPipeline", None),
    "VAE_Temporal_alone": ("VAE_Temporal_SD", None),
}


@pytest.mark.parity
def test_tables_are_the_reference_tables_in_order():
    tables = read_json("pipeline/aspect_tables.json")
    assert list(ASPECT_RATIO_MAP.items()) == list(tables["ASPECT_RATIO_MAP"].items())
    assert list(NUM_FRAMES_MAP.items()) == list(tables["NUM_FRAMES_MAP"].items())
    assert list(ASPECT_RATIOS) == list(tables["ASPECT_RATIOS"])
    for name, entry in tables["ASPECT_RATIOS"].items():
        assert num_pixels(name) == entry["num_pixels"]
        ours = ASPECT_RATIOS[name][1]
        assert list(ours) == list(entry["ratios"]), name
        assert [list(size) for size in ours.values()] == list(entry["ratios"].values()), name


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(GEOMETRY, "get_image_size", "aspect_ratio"))
def test_image_size_matches_reference(index):
    case = section_entry(GEOMETRY, "get_image_size", index)
    if case["status"] == "error":
        with pytest.raises(ConfigError) as error:
            get_image_size(case["resolution"], case["aspect_ratio"])
        assert repr(case["aspect_ratio"]) in str(error.value) or repr(case["resolution"]) in str(
            error.value
        )
        return
    assert list(get_image_size(case["resolution"], case["aspect_ratio"])) == case["output"]


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(GEOMETRY, "get_num_frames", "input"))
def test_num_frames_matches_reference(index):
    case = section_entry(GEOMETRY, "get_num_frames", index)
    if case["status"] == "error":
        with pytest.raises(ConfigError, match="num_frames"):
            get_num_frames(case["input"])
        return
    assert get_num_frames(case["input"]) == case["output"]


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(GEOMETRY, "get_closest_ratio", "resolution"))
def test_closest_ratio_matches_reference(index):
    case = section_entry(GEOMETRY, "get_closest_ratio", index)
    table = ASPECT_RATIOS[case["resolution"]][1]
    assert get_closest_ratio(case["height"], case["width"], list(table)) == case["output"]
    assert (
        closest_image_size(case["height"], case["width"], case["resolution"])
        == table[case["output"]]
    )


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(GEOMETRY, "get_aspect_ratios_dict"))
def test_size_formula_matches_reference(index):
    case = section_entry(GEOMETRY, "get_aspect_ratios_dict", index)
    computed = aspect_ratio_sizes(case["ts"])
    assert list(computed) == list(case["computed"])
    assert [list(size) for size in computed.values()] == list(case["computed"].values())


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(GEOMETRY, "get_latent_size"))
def test_latent_sizes_match_reference(index):
    case = section_entry(GEOMETRY, "get_latent_size", index)
    for column, (vae, micro_frame_size) in LATENT_COLUMNS.items():
        assert latent_size(case["input_size_THW"], vae, micro_frame_size) == case[column], column


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(GEOMETRY, "dframe_to_frame", "input"))
def test_dframe_to_frame_matches_reference(index):
    case = section_entry(GEOMETRY, "dframe_to_frame", index)
    if case["status"] == "error":
        with pytest.raises(VideoShapeError, match="multiple of 5"):
            dframe_to_frame(case["input"])
        return
    assert dframe_to_frame(case["input"]) == case["output"]


@pytest.mark.parity
@pytest.mark.parametrize(
    "index", section_params("prompts", "prepare_multi_resolution_info", "info_type")
)
def test_multi_resolution_info_matches_reference(index):
    case = section_entry("prompts", "prepare_multi_resolution_info", index)
    info = prepare_multi_resolution_info(
        case["info_type"], case["batch_size"], case["image_size"], case["num_frames"], case["fps"]
    )
    assert sorted(info) == sorted(case["output"])
    for key, expected in case["output"].items():
        assert info[key].dtype == torch.float32
        assert info[key].tolist() == expected, key


@pytest.mark.parity
def test_image_fps_matches_reference():
    assert read_json("pipeline/prompts.json")["IMG_FPS"] == IMG_FPS


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params("prompts", "get_save_path_name"))
def test_save_names_match_reference(index):
    case = section_entry("prompts", "get_save_path_name", index)
    name = save_path_name(
        case["save_dir"],
        case["sample_name"],
        case["sample_idx"],
        case["prompt"],
        case["prompt_as_path"],
        case["num_sample"],
        case["k"],
    )
    assert name == case["output"]


def test_unknown_multi_resolution_type_is_named():
    with pytest.raises(ConfigError, match="'STDiT4'"):
        prepare_multi_resolution_info("STDiT4", 1, (240, 426), 51, 24)


def test_unknown_vae_for_latent_size_is_named():
    with pytest.raises(ConfigError, match="'MyVAE'"):
        latent_size([51, 240, 426], "MyVAE")


def test_max_hxw_takes_the_smallest_sides_and_caps_the_area():
    # 720x1280 > 236544 pixels: scale by sqrt(236544 / 921600) -> 364x648, then multiples of 32.
    assert max_hxw_size([(720, 1280)]) == (352, 640)
    # The smallest height and width come from different images: 600x640, scaled to 470x502.
    assert max_hxw_size([(600, 900), (720, 640)]) == (448, 480)
    # Small inputs are only cropped to the stride.
    assert max_hxw_size([(250, 330)]) == (224, 320)
    assert max_hxw_size([(480, 480)], max_hxw=102400) == (320, 320)


def test_max_hxw_out_of_range_is_named():
    with pytest.raises(
        ConfigError, match=r"max_hxw 50000 must be an integer in \[102400, 236544\]"
    ):
        max_hxw_size([(480, 480)], max_hxw=50000)
    with pytest.raises(VideoShapeError, match="stride"):
        max_hxw_size([(16, 640)])


def test_pixel_frames_map_to_the_latent_that_encodes_them():
    # 51 frames = three 17-frame chunks of 5 latents; each chunk's first frame stands alone.
    latents = [pixel_frame_to_latent(frame) for frame in range(51)]
    assert latents[:6] == [0, 1, 1, 1, 1, 2]
    assert latents[16:18] == [4, 5]
    assert latents[47:] == [14] * 4
    assert latents[-1] + 1 == latent_size([51, 16, 16])[0]
    with pytest.raises(VideoShapeError, match="-1"):
        pixel_frame_to_latent(-1)
