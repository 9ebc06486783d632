"""The long-video loop replays `pipeline/long_video_loop.*` with the stand-in VAE it describes."""

import pytest
import torch
from fixture_sections import section_entry, section_params
from standin_vae import StandInVAE

from golden import assert_close, read_tensors
from sora_core.conditioning import LongVideoSettings, generate_long_video, stitch_clips
from sora_core.errors import ConfigError, VideoShapeError
from sora_core.geometry import get_num_frames, latent_size
from sora_core.prompts import extract_json_from_prompts, merge_loop_prompt, split_loop_prompt

FIXTURE = "long_video_loop"


def _merged_prompts(run):
    count = len(run["raw_prompts"])
    prompts, references, strategies = extract_json_from_prompts(
        run["raw_prompts"], [""] * count, [""] * count
    )
    assert prompts == run["after_extract_json"]["prompts"]
    assert references == run["after_extract_json"]["reference_path"]
    merged = []
    for prompt, expected in zip(prompts, run["split_prompt"], strict=True):
        segments, loop_indices = split_loop_prompt(prompt)
        assert (segments, loop_indices) == (expected["segments"], expected["loop_idx"])
        merged.append(merge_loop_prompt(segments, loop_indices))
    assert merged == run["merged_prompts"]
    return merged, strategies


class _Replay:
    """Noise and sampling as recorded: z_in per loop; samples carry the next clip's encoding."""

    def __init__(self, tensors, run_index, loops):
        self.tensors, self.prefix, self.loops = tensors, f"run{run_index}", loops
        self.calls = []

    def draw_noise(self, loop_index):
        return self.tensors[f"{self.prefix}.loop{loop_index}.z_in"].clone()

    def sample(self, z, masks, prompts, loop_index):
        self.calls.append((z.clone(), masks, prompts))
        samples = torch.zeros_like(z)
        if loop_index + 1 < self.loops:
            # The stand-in decoder writes channel 0 into the frames the encoder reads back.
            for batch in range(z.shape[0]):
                appended = self.tensors[f"{self.prefix}.loop{loop_index + 1}.appended_ref.{batch}"]
                samples[batch] = appended[0]
        return samples


@pytest.mark.parity
@pytest.mark.parametrize("index", section_params(FIXTURE, "runs", "num_frames_arg"))
def test_loop_replays_reference(index):
    run = section_entry(FIXTURE, "runs", index)
    tensors = read_tensors(f"pipeline/{FIXTURE}.safetensors")
    num_frames = get_num_frames(run["num_frames_arg"])
    assert num_frames == run["num_frames"]
    assert latent_size([num_frames, *run["image_size"]]) == run["latent_size"]
    prompts, strategies = _merged_prompts(run)
    references = [
        [tensors[f"run{index}.ref.{batch}.{ref}"] for ref in range(len(lengths))]
        for batch, lengths in enumerate(run["ref_latent_lengths"])
    ]
    settings = LongVideoSettings(
        loop=run["loop"],
        condition_frame_length=run["condition_frame_length"],
        condition_frame_edit=run["condition_frame_edit"],
        align=run["align"],
    )
    vae, replay = StandInVAE(), _Replay(tensors, index, run["loop"])
    result = generate_long_video(
        vae, replay.sample, replay.draw_noise, prompts, references, strategies, num_frames, settings
    )

    assert vae.encoded_shapes == run["stand_in_vae_encode_inputs"]
    for expected, record, (z, masks, prompts_seen) in zip(
        run["loops"], result.loops, replay.calls, strict=True
    ):
        loop = expected["loop_i"]
        assert record.loop_index == loop
        assert record.prompts == prompts_seen == expected["prompts"]
        assert record.mask_strategies == expected["mask_strategy"]
        assert [len(prompt) for prompt in record.reference_frames] == expected["num_refs"]
        assert record.reference_frames == expected["ref_latent_frames"]
        assert_close(masks, torch.tensor(expected["masks"]), what=f"loop {loop} masks")
        z_in = tensors[f"run{index}.loop{loop}.z_in"]
        assert_close(z, tensors[f"run{index}.loop{loop}.z_conditioned"], what=f"loop {loop} z")
        changed = [bool((z[b] != z_in[b]).any()) for b in range(z.shape[0])]
        assert changed == expected["latent_frames_overwritten"]

    saved = run["saved_video"]
    assert settings.dropped_frames == saved["later_clips_drop_leading_pixel_frames"]
    assert settings.total_frames(num_frames) == saved["total_frames"]
    assert result.video.shape[2] == saved["total_frames"]


def test_stitching_keeps_every_frame_once():
    clips = [torch.arange(51.0)[None, None, :, None, None] + 1000 * k for k in range(3)]
    video = stitch_clips(clips, 17)
    expected = torch.cat(
        [clips[0][0, 0, :, 0, 0], clips[1][0, 0, 17:, 0, 0], clips[2][0, 0, 17:, 0, 0]]
    )
    assert video.shape[2] == 119
    assert torch.equal(video[0, 0, :, 0, 0], expected)


def test_version_1_1_length_formula():
    settings = LongVideoSettings(loop=16, condition_frame_length=8, release="1.1")
    num_frames = 32
    assert settings.total_frames(num_frames) == 16 * (num_frames - 8) + 8


def test_version_1_2_length_needs_whole_chunks():
    with pytest.raises(VideoShapeError, match="multiple of 5"):
        LongVideoSettings(loop=2, condition_frame_length=4).total_frames(51)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"loop": 0}, "loop"),
        ({"condition_frame_length": 0}, "condition_frame_length"),
        ({"condition_frame_edit": 1.5}, "condition_frame_edit"),
        ({"release": "1.0"}, "release"),
        ({"release": "1.1", "condition_frame_edit": 0.2}, "condition_frame_edit"),
    ],
)
def test_bad_loop_settings_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        LongVideoSettings(**options)


def test_clip_shorter_than_the_repeated_head_is_rejected():
    with pytest.raises(ConfigError, match="num_frames = 17"):
        LongVideoSettings(loop=2).total_frames(17)


def test_prompt_and_reference_counts_must_agree():
    vae = StandInVAE()
    with pytest.raises(ConfigError, match="2 prompts"):
        generate_long_video(vae, None, None, ["a", "b"], [[]], ["", ""], 51, LongVideoSettings())
