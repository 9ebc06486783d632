"""Open-Sora Plan v1.3's image-to-video recipe on STDiT frame masks: mask_config YAML,
per-task masks, default captions, condition noise."""

import random
from collections import Counter

import pytest
import torch

from sora_core.datasets.task_masks import (
    DEFAULT_TEXTS,
    ConditionNoise,
    DefaultText,
    TaskMaskGenerator,
    read_mask_config,
)
from sora_core.errors import ConfigError

PLAN_V13_YAML = """\
# mask processor args
min_clear_ratio: 0.0
max_clear_ratio: 1.0
mask_type_ratio_dict_video:
  t2iv: 1
  i2v: 8
  transition: 8
  continuation: 2
  clear: 0
  random_temporal: 1
mask_type_ratio_dict_image:
  t2iv: 0
  clear: 0
"""


def _latents(frames: int, batch: int = 1) -> torch.Tensor:
    return torch.zeros(batch, 4, frames, 2, 2)


def test_plan_yaml_is_normalised(tmp_path):
    path = tmp_path / "mask_config.yaml"
    path.write_text(PLAN_V13_YAML)
    config = read_mask_config(path)
    assert config.video == {
        "t2iv": 0.05,
        "i2v": 0.4,
        "transition": 0.4,
        "continuation": 0.1,
        "clear": 0.0,
        "random_temporal": 0.05,
    }
    assert config.image == {"t2iv": 0.5, "clear": 0.5}  # all zero -> uniform


@pytest.mark.parametrize(
    "task, expected",
    [
        ("t2iv", [1, 1, 1, 1, 1]),
        ("i2v", [0, 1, 1, 1, 1]),
        ("transition", [0, 1, 1, 1, 0]),
    ],
)
def test_fixed_tasks(task, expected):
    masks = TaskMaskGenerator({"mask_type_ratio_dict_video": {task: 1}}).get_masks(_latents(5, 3))
    assert masks.int().tolist() == [expected] * 3


def test_continuation_keeps_a_head_and_one_generated_frame():
    generator = TaskMaskGenerator(
        {"mask_type_ratio_dict_video": {"continuation": 1}}, rng=random.Random(0)
    )
    heads = Counter()
    for _ in range(200):
        mask = generator.get_mask(_latents(5)).tolist()
        head = mask.index(True)
        assert all(mask[head:]), mask  # condition frames form a head
        heads[head] += 1
    assert set(heads) == {0, 1, 2, 3, 4}  # randint(0, 5) clipped to 4: never all conditions


def test_random_temporal_respects_the_clear_ratio_bounds():
    generator = TaskMaskGenerator(
        {
            "min_clear_ratio": 0.4,
            "max_clear_ratio": 0.6,
            "mask_type_ratio_dict_video": {"random_temporal": 1},
        },
        rng=random.Random(1),
    )
    counts = Counter(int((~generator.get_mask(_latents(10))).sum()) for _ in range(200))
    assert set(counts) == {4, 5, 6}


def test_task_mix_follows_the_ratios():
    generator = TaskMaskGenerator(
        {"mask_type_ratio_dict_video": {"t2iv": 1, "i2v": 3}}, rng=random.Random(2)
    )
    tasks = Counter(generator.pick_task(5) for _ in range(4000))
    assert abs(tasks["i2v"] / 4000 - 0.75) < 0.03


def test_images_stay_generated_but_draw():
    rng = random.Random(3)
    generator = TaskMaskGenerator({"mask_type_ratio_dict_image": {"clear": 1}}, rng=rng)
    state = rng.getstate()
    assert generator.get_mask(_latents(1)).tolist() == [True]
    assert rng.getstate() != state


@pytest.mark.parametrize(
    "config, named",
    [
        ({"mask_type_ratio_dict_video": {"clear": 1}}, "'clear'"),
        ({"mask_type_ratio_dict_video": {"bbox": 1}}, "spatial"),
        ({"mask_type_ratio_dict_video": {"i2i": 1}}, "'i2i'"),
        ({"min_clear_ratio": 0.8, "max_clear_ratio": 0.2}, "min_clear_ratio"),
        ({"mask_ratio": 0.2}, "mask_ratio"),
        ({"mask_type_ratio_dict_video": {"i2v": -1}}, r"\['i2v'\]"),
    ],
)
def test_bad_mask_config_names_the_key(config, named):
    with pytest.raises(ConfigError, match=named):
        read_mask_config(config)


def test_missing_mask_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="none.yaml"):
        read_mask_config(tmp_path / "none.yaml")


def test_default_text_share():
    policy = DefaultText(default_text_ratio=0.5, caption_dropout=0.2)
    rng = random.Random(4)
    texts = [policy.apply("a red ball", True, rng) for _ in range(5000)]
    share = texts.count(DEFAULT_TEXTS["video"]) / len(texts)
    assert abs(share - 0.1) < 0.015
    assert set(texts) == {"a red ball", DEFAULT_TEXTS["video"]}
    assert DefaultText().apply("a red ball", False, rng) == "a red ball"


def test_condition_noise_touches_only_condition_frames():
    torch.manual_seed(0)
    latent = torch.randn(64, 4, 5, 2, 2)
    mask = torch.ones(64, 5, dtype=torch.bool)
    mask[:, 0] = False
    noisy = ConditionNoise()(latent, mask)
    assert torch.equal(noisy[:, :, 1:], latent[:, :, 1:])
    changed = (noisy[:, :, 0] != latent[:, :, 0]).flatten(1).any(dim=1)
    assert 50 <= int(changed.sum()) < 64  # about 5 % of samples stay clean
    sigma = (noisy[:, :, 0] - latent[:, :, 0]).flatten(1).std(dim=1)[changed]
    assert 0.01 < float(sigma.median()) < 0.15  # exp(-3) ~ 0.05
