"""The `mask_generator` fixture: every case's effective ratios, masks and the exact sequence
of Python `random` calls (the draws that decide a mask), plus bad `mask_ratios`."""

import random

import pytest
import torch
from fixture_sections import section_entry, section_params

from sora_core.datasets import MaskGenerator, normalize_mask_ratios
from sora_core.errors import ConfigError, VideoShapeError

CASES = section_params("mask_generator", "cases")


class RecordingRandom(random.Random):
    """A `random.Random` that logs each call the mask generator makes, as the fixture lists them."""

    def __init__(self, seed: int):
        super().__init__(seed)
        self.calls = []

    def getrandbits(self, k):
        # Overriding `random` alone would switch randint to a random()-based path.
        return super().getrandbits(k)

    def random(self):
        value = super().random()
        self.calls.append(["random", [], value])
        return value

    def randint(self, a, b):
        value = super().randint(a, b)
        self.calls.append(["randint", [a, b], value])
        return value

    def uniform(self, a, b):
        # random.Random.uniform's own formula, without logging its inner random() call.
        value = a + (b - a) * super().random()
        self.calls.append(["uniform", [a, b], value])
        return value


@pytest.mark.parity
@pytest.mark.parametrize("index", CASES)
def test_mask_generator_case(index):
    case = section_entry("mask_generator", "cases", index)
    rng = RecordingRandom(case["seed"])
    torch.manual_seed(case["seed"])
    generator = MaskGenerator(case["mask_ratios"], rng=rng)
    assert list(generator.mask_ratios.items()) == list(case["effective_mask_ratios"].items())
    x = torch.zeros(case["x_shape"])
    if case["status"] == "error":
        # The reference fails inside randint(1, 0); we refuse before that call, by name.
        with pytest.raises(VideoShapeError, match="at least 4 latent frames"):
            generator.get_masks(x)
        *drawn, failed = case["python_random_calls"]
        assert failed[0] == "randint" and failed[1] == [1, 0]
        assert rng.calls == drawn
        return
    masks = generator.get_masks(x)
    assert masks.dtype == torch.bool
    assert masks.int().tolist() == case["masks"]
    assert rng.calls == case["python_random_calls"]


@pytest.mark.parity
def test_default_stream_is_pythons_global_random():
    """Without an rng the generator draws from `random` itself, as the reference does."""
    case = next(
        section_entry("mask_generator", "cases", i)
        for i in range(len(CASES))
        if section_entry("mask_generator", "cases", i)["status"] == "ok"
        and section_entry("mask_generator", "cases", i)["x_shape"][2] > 4
        and "quarter_random" in section_entry("mask_generator", "cases", i)["mask_ratios"]
    )
    random.seed(case["seed"])
    torch.manual_seed(case["seed"])
    masks = MaskGenerator(case["mask_ratios"]).get_masks(torch.zeros(case["x_shape"]))
    assert masks.int().tolist() == case["masks"]


def test_v11_names_map_onto_v12_types():
    ratios = normalize_mask_ratios({"mask_no": 0.5, "mask_quarter_head": 0.5})
    assert ratios == {"identity": 0.5, "quarter_head": 0.5}


@pytest.mark.parametrize(
    "ratios, field",
    [
        ({"quarter_sideways": 0.1}, "quarter_sideways"),
        ({"random": 1.5}, "random"),
        ({"random": 0.6, "image_head": 0.6}, "sum"),
        ({"identity": 0.5, "random": 0.1}, "sum"),
    ],
)
def test_bad_mask_ratios_name_the_key(ratios, field):
    with pytest.raises(ConfigError, match=field):
        MaskGenerator(ratios)
