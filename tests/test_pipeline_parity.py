"""The reference's own inference run on the tiny official-format checkpoints, reproduced.

Each `checkpoints/index.json` e2e case ran `scripts/inference.py` main() on the tiny STDiT3,
1.2 VAE and T5 with every random draw recorded; replaying the draws through
`generate_batch` must give the same video within 1e-4.
"""

import pytest
from pipeline_helpers import e2e_entries, fixture_clip_settings, fixture_models
from sampler_standins import ReplayNoise

from golden import assert_close, fixtures_dir, read_json, read_tensors
from sora_core.pipeline import encode_prompts, generate_batch, load_reference_media
from sora_core.text import PromptOptions, prepare_prompts


@pytest.mark.parity
@pytest.mark.parametrize("entry", e2e_entries(), ids=lambda entry: entry["name"])
def test_generation_replays_the_reference_inference_run(entry):
    case = read_json(f"checkpoints/{entry['json']}")
    tensors = read_tensors(f"checkpoints/{entry['tensors']}")
    config = case["settings"]["config"]
    references = list(config["reference_path"])
    if entry["reference_image"]:
        # The run named the image relative to its folder; it lies beside the sidecar here.
        references = [str(fixtures_dir() / "checkpoints" / entry["reference_image"])]
    noise = ReplayNoise(tensors, case["draws"])
    models = fixture_models(config)

    settings = fixture_clip_settings(config)
    prompts = prepare_prompts(
        config["prompt"],
        PromptOptions(models.release, aesthetic_score=config["aes"], motion_score=config["flow"]),
        reference_paths=references,
        mask_strategies=config["mask_strategy"],
    )
    encoding = encode_prompts(
        models.text_encoder, prompts, settings.long_video.loop, models.placement.device
    )
    media = load_reference_media(prompts.reference_paths, settings)
    result = generate_batch(models, encoding, settings, noise, references=media)

    noise.assert_all_used()
    for expected, record in zip(case["loops"], result.loops, strict=True):
        assert record.prompts == expected["prompt"]
        assert [str(strategy) for strategy in record.mask_strategies] == expected["mask_strategy"]
        assert record.masks.tolist() == expected["mask"]
    tolerance = case["tolerance"]["video"]["atol"]
    assert list(result.video.shape) == [1, *case["output"]["video"]["shape"]]
    assert_close(result.video[0], tensors["video"], atol=tolerance, rtol=0, what="video")
