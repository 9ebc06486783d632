"""`opensora-generate` end to end with the embedded demo model: every conditioning
kind, long videos, names, formats, config files, and errors raised before any model loads."""

import av
import numpy as np
import pytest
import torch
from config_samples import SAMPLE_V12
from PIL import Image

from sora_core.cli import generate_main
from sora_core.conditioning import edit, extend, format_mask_strategy
from sora_core.video_io import save_sample

TINY = [
    "--demo",
    "--image-size",
    "32",
    "48",
    "--num-sampling-steps",
    "2",
    "--seed",
    "7",
    "--fps",
    "24",
]


def run(tmp_path, *flags) -> int:
    return generate_main([*TINY, "--save-dir", str(tmp_path / "out"), *flags])


def probe(path) -> "tuple[int, int, int, float]":
    """(frames, height, width, fps) of a written video, decoded with av."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        return len(frames), frames[0].shape[0], frames[0].shape[1], float(stream.average_rate)


def image(path, size=(40, 56), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
    return str(path)


def video(tmp_path, frames=34, seed=0):
    clip = torch.rand(3, frames, 32, 48, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return str(save_sample(clip, tmp_path / f"reference_{seed}", fps=24))


def test_text_to_video_writes_the_requested_frames_size_and_fps(tmp_path, capsys):
    assert run(tmp_path, "--prompt", "a fox", "--num-frames", "17", "--frame-interval", "2") == 0
    assert probe(tmp_path / "out" / "sample_0000.mp4") == (17, 32, 48, 12.0)
    captured = capsys.readouterr()
    summary = captured.out.strip().splitlines()[-1]
    assert "1 sample(s) of 17 frames at 32x48" in summary and "peak RAM" in summary
    assert summary.endswith("[embedded demo model]")


def test_image_to_video(tmp_path):
    reference = image(tmp_path / "first.png")
    flags = ["--prompt", "a fox", "--num-frames", "17", "--reference-path", reference]
    assert run(tmp_path, *flags, "--mask-strategy", "0") == 0
    assert probe(tmp_path / "out" / "sample_0000.mp4") == (17, 32, 48, 24.0)


def test_connect_two_images_with_the_reference_json_syntax(tmp_path):
    first, last = image(tmp_path / "a.png", seed=1), image(tmp_path / "b.png", seed=2)
    prompt = f'a fox.{{"reference_path": "{first};{last}", "mask_strategy": "0;0,1,0,-1,1"}}'
    assert run(tmp_path, "--prompt", prompt, "--num-frames", "34") == 0
    assert probe(tmp_path / "out" / "sample_0000.mp4") == (34, 32, 48, 24.0)


def test_extend_a_video(tmp_path):
    strategy = format_mask_strategy(extend(5))
    flags = ["--prompt", "a fox", "--num-frames", "34", "--reference-path", video(tmp_path)]
    assert run(tmp_path, *flags, "--mask-strategy", strategy) == 0
    assert probe(tmp_path / "out" / "sample_0000.mp4") == (34, 32, 48, 24.0)


def test_edit_a_video(tmp_path):
    strategy = format_mask_strategy(edit(10, edit_ratio=0.4))
    flags = ["--prompt", "a fox", "--num-frames", "34", "--reference-path", video(tmp_path)]
    assert run(tmp_path, *flags, "--mask-strategy", strategy) == 0
    assert probe(tmp_path / "out" / "sample_0000.mp4") == (34, 32, 48, 24.0)


def test_three_loop_long_video_with_per_loop_prompts(tmp_path):
    prompt = "|0|a paper boat on a rainy street.|1|the boat in a canal.|2|the boat at sea."
    assert run(tmp_path, "--prompt", prompt, "--num-frames", "34", "--loop", "3") == 0
    # The demo model's VAE is per frame: 34 frames, then 34 - 2 new ones per later loop (the
    # last condition_frame_length = 2 latent frames, 2 pixel frames, are carried).
    assert probe(tmp_path / "out" / "sample_0000.mp4") == (98, 32, 48, 24.0)


def test_sizes_off_the_vae_grid_decode_to_multiples_of_8_as_in_the_reference(tmp_path):
    assert run(tmp_path, "--prompt", "a fox", "--num-frames", "17", "--image-size", "36", "52") == 0
    assert probe(tmp_path / "out" / "sample_0000.mp4") == (17, 32, 48, 24.0)


def test_references_at_sizes_off_the_vae_grid_are_loaded_at_the_decoded_size(tmp_path):
    flags = ["--prompt", "a fox", "--num-frames", "17", "--image-size", "36", "52"]
    reference = image(tmp_path / "first.png")
    assert run(tmp_path, *flags, "--reference-path", reference, "--mask-strategy", "0") == 0
    assert probe(tmp_path / "out" / "sample_0000.mp4") == (17, 32, 48, 24.0)


def test_named_resolution_and_aspect_ratio(tmp_path, capsys):
    flags = ["--demo", "--prompt", "a fox", "--num-frames", "1", "--num-sampling-steps", "1"]
    assert generate_main([*flags, "--save-dir", str(tmp_path), "--resolution", "144p"]) == 0
    with Image.open(tmp_path / "sample_0000.png") as picture:
        assert picture.size == (192, 192)  # the "1:1" entry of the 144p table (demo model)
    flags += ["--aspect-ratio", "9:16"]
    assert generate_main([*flags, "--save-dir", str(tmp_path), "--resolution", "144p"]) == 0
    with Image.open(tmp_path / "sample_0000.png") as picture:
        assert picture.size == (256, 144)  # Open-Sora's "9:16" entry of the 144p table
    assert generate_main([*flags, "--aspect-ratio", "5:7", "--resolution", "144p"]) == 2
    assert "aspect_ratio '5:7'" in capsys.readouterr().err


def test_one_frame_is_saved_as_png(tmp_path):
    assert run(tmp_path, "--prompt", "a fox", "--num-frames", "1") == 0
    with Image.open(tmp_path / "out" / "sample_0000.png") as picture:
        assert picture.size == (48, 32)


def test_sample_names_follow_the_reference(tmp_path):
    flags = ["--prompt", "a fox", "a cat", "--num-frames", "1", "--num-sample", "2"]
    assert run(tmp_path, *flags, "--sample-name", "demo", "--start-index", "3") == 0
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == ["demo_0003-0.png", "demo_0003-1.png", "demo_0004-0.png", "demo_0004-1.png"]


def test_prompt_as_path_names_samples_after_prompts_and_skips_existing(tmp_path, capsys):
    flags = ["--prompt", "a red fox", "--num-frames", "1", "--prompt-as-path"]
    assert run(tmp_path, *flags) == 0
    assert (tmp_path / "out" / "a red fox.png").is_file()
    capsys.readouterr()
    assert run(tmp_path, *flags) == 0
    assert "0 sample(s)" in capsys.readouterr().out


def test_batches_with_prompt_file_and_index_range(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("zero\none\ntwo\nthree\n")
    flags = ["--prompt-path", str(prompts), "--start-index", "1", "--end-index", "4"]
    assert run(tmp_path, *flags, "--batch-size", "2", "--num-frames", "1") == 0
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == ["sample_0001.png", "sample_0002.png", "sample_0003.png"]


# Later assignments win, as in Python: a short clip of the sample config, with a prompt.
REFERENCE_LAYOUT_CONFIG = (
    SAMPLE_V12
    + """
num_frames = 17
save_fps = 8
prompt = ["a fox in the snow"]
"""
)


def test_reference_layout_config_file_runs_with_demo_models(tmp_path):
    config = tmp_path / "sample.py"
    config.write_text(REFERENCE_LAYOUT_CONFIG)
    flags = ["--dtype", "fp32", "--image-size", "32", "48"]
    assert generate_main([str(config), "--demo", *flags, "--save-dir", str(tmp_path)]) == 0
    assert probe(tmp_path / "sample_0000.mp4") == (17, 32, 48, 8.0)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--num-frames", "8"],
            "for clips of 2-16 frames, Open-Sora 1.2's timestep transform leaves no sampling "
            "steps; use 1 (an image) or 17 or more",
        ),
        (["--reference-path", "missing.png"], "does not exist"),
        (["--mask-strategy", "0,x"], "is not an integer"),
        (["--reference-path", "", "", "--prompt", "one"], "2 entries for 1 prompts"),
        (["--loop", "2", "--num-frames", "17"], "must exceed the 17 pixel frames"),
        (["--prompt", 'a fox{"mask": 1}'], "unknown JSON key"),
        (["--lora", "missing.safetensors:0.5"], "LoRA 'missing.safetensors' does not exist"),
        (["--loop", "1000000000"], "loop = 1000000000 must be from 1 to 1000"),
        (["--num-sample", "1000000000"], "num_sample 1 to 1000"),
        (["--num-frames", "100000"], "1 to 1024 frames per clip"),
        (["--prompt", "|0|a|999999999|b"], "loop index 999999999 is out of range"),
        (["--prompt", "|0|a|\u00b2|b"], "is not a loop index"),
        (["--prompt", "<a " * 1000], "contains '<' (HTML is stripped); at most 2000"),
    ],
)
def test_bad_requests_fail_before_loading_any_model(tmp_path, capsys, flags, message):
    # The checkpoints do not exist: each error must be found before loading is attempted.
    config = tmp_path / "config.py"
    config.write_text(REFERENCE_LAYOUT_CONFIG.replace("hpcai-tech/", str(tmp_path / "absent-")))
    argv = [str(config), "--prompt", "a fox", "--image-size", "32", "48", "--num-frames", "17"]
    assert generate_main([*argv, *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_a_checkpoint_not_on_disk_or_in_the_hub_cache_says_where_to_put_it(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    config = tmp_path / "sample.py"
    config.write_text(REFERENCE_LAYOUT_CONFIG)
    assert generate_main([str(config), "--image-size", "32", "48"]) == 2
    error = capsys.readouterr().err
    assert "'hpcai-tech/OpenSora-STDiT-v3'" in error and "nothing is downloaded" in error


def test_a_ckpt_path_that_is_not_on_disk_is_a_missing_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    config = tmp_path / "sample.py"
    config.write_text(REFERENCE_LAYOUT_CONFIG)
    missing = "./outputs/000-STDiT3-XL-2/epoch0-global_step5/ema.pt"
    argv = [str(config), "--image-size", "32", "48", "--ckpt-path", missing]
    assert generate_main(argv) == 2
    error = capsys.readouterr().err
    assert f"{missing!r} does not exist" in error
    assert "hf download" not in error and "Traceback" not in error


@pytest.mark.parametrize(
    ("section", "key"), [("model", "qk_nrom"), ("vae", "micro_frames"), ("scheduler", "steps")]
)
def test_unknown_model_section_key_is_named_before_loading(tmp_path, capsys, section, key):
    config = tmp_path / "sample.py"
    config.write_text(REFERENCE_LAYOUT_CONFIG + f"{section} = dict({section}, {key}=1)\n")
    assert generate_main([str(config)]) == 2
    error = capsys.readouterr().err
    assert key in error and "Traceback" not in error


def test_unknown_config_key_is_named(tmp_path, capsys):
    config = tmp_path / "sample.py"
    config.write_text(REFERENCE_LAYOUT_CONFIG + "num_frame = 51\n")
    assert generate_main([str(config), "--demo"]) == 2
    assert "num_frame" in capsys.readouterr().err
