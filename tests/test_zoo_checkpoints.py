"""DiT / Latte / PixArt-α/Σ checkpoints: every zoo case written in its release's file layout
(per the sidecar's `checkpoint_loading`), under the release name and under another name, is
detected from keys and shapes and reproduces the reference output; files that do not fit
the asked-for model are named errors."""

import pytest
import torch

from golden import assert_close, read_json, read_tensors, zoo_cases
from sora_core.checkpoints import load_transformer
from sora_core.errors import CheckpointError

# What the weights cannot tell: the reference's configs always give these.
CONFIG_ONLY = ("input_size", "no_temporal_pos_emb", "time_scale", "base_size", "condition")


def case_state(name: str) -> tuple[dict, dict, dict]:
    sidecar = read_json(f"zoo/{name}.json")
    tensors = read_tensors(f"zoo/{name}.safetensors")
    state = {
        k.removeprefix("state_dict."): v for k, v in tensors.items() if k.startswith("state_dict.")
    }
    return sidecar, state, tensors


def release_layout(sidecar: dict, state: dict) -> tuple[str, object]:
    """The file name and `torch.save` payload of the case's release layout (our trainer's flat
    Open-Sora layout where no release exists)."""
    loading = sidecar["checkpoint_loading"]
    roundtrip = loading.get("tiny_roundtrip")
    if roundtrip is None:
        return "ema.pt", dict(state)
    layout = dict(state)
    for key, (release_shape, _) in roundtrip["reshaped"].items():
        layout[key] = layout[key].reshape(release_shape)
    only_model = dict(roundtrip["only_in_model"])
    for key, shape in roundtrip["only_in_release"].items():
        # A release table holds the values of the model's table of the same shape.
        source = next(k for k, s in only_model.items() if s == shape)
        layout[key] = layout[source]
    for key in only_model:
        layout.pop(key, None)
    assert len(layout) == roundtrip["release_layout_keys"]
    container = loading["release_file"]["container"]
    if "ckpt['ema']" in container:
        # Latte's train.py keeps the raw weights beside the EMA; only the EMA is the model.
        return roundtrip["file_name"], {
            "model": {k: v * 0 for k, v in layout.items()},
            "ema": layout,
        }
    if "ckpt['state_dict']" in container:
        return roundtrip["file_name"], {"state_dict": layout}
    return roundtrip["file_name"], layout


def run_case(model, sidecar, tensors):
    spec = sidecar["forward_inputs"]
    args = [tensors[f"input.{name}"] for name in spec["positional"]]
    kwargs = {name: tensors[f"input.{name}"] for name in spec["keyword"]}
    if spec["data_info"]:
        kwargs["data_info"] = {n: tensors[f"input.data_info.{n}"] for n in spec["data_info"]}
    with torch.no_grad():
        return model(*args, **kwargs)


@pytest.mark.parametrize("case", zoo_cases())
@pytest.mark.parametrize("renamed", [False, True], ids=["release-name", "renamed"])
def test_release_layout_is_detected_and_reproduces_the_reference(case, renamed, tmp_path):
    sidecar, state, tensors = case_state(case)
    name, payload = release_layout(sidecar, state)
    path = tmp_path / ("weights.pth" if renamed else name)
    torch.save(payload, path)
    kwargs = sidecar["constructor_kwargs"]
    config = {key: kwargs[key] for key in CONFIG_ONLY if key in kwargs}
    model = load_transformer(path, config={"type": sidecar["reference"]["factory"], **config})
    assert type(model).__name__ == sidecar["reference"]["class"]
    assert_close(run_case(model, sidecar, tensors), tensors["output.out"], what=case)


@pytest.mark.parametrize("case", zoo_cases())
def test_class_and_sizes_come_from_the_file_alone(case, tmp_path):
    sidecar, state, _ = case_state(case)
    name, payload = release_layout(sidecar, state)
    torch.save(payload, tmp_path / name)
    model = load_transformer(tmp_path / name)
    expected = sidecar["reference"]["class"]
    # Latte's keys are DiT's: only Latte's release (its `temp_embed` table) tells it apart;
    # in Open-Sora's layout a config's type picks Latte's forward.
    if "temp_embed" not in payload.get("ema", payload):
        expected = {"Latte": "DiT"}.get(expected, expected)
    assert type(model).__name__ == expected
    kwargs = sidecar["constructor_kwargs"]
    for key in ("patch_size", "hidden_size", "depth", "num_heads", "in_channels"):
        assert (
            tuple(model.config[key]) == tuple(kwargs[key])
            if key == "patch_size"
            else (model.config[key] == kwargs[key])
        ), key
    for key in (
        "learn_sigma",
        "pred_sigma",
        "condition",
        "caption_channels",
        "qk_norm",
        "kv_compress_config",
        "model_max_length",
    ):
        if key in kwargs and kwargs[key] is not None and key in model.config:
            if key == "model_max_length" and expected in ("DiT", "Latte"):
                continue  # one pooled CLIP token whatever the config says
            assert model.config[key] == kwargs[key], key


def _save(tmp_path, case, name=None):
    sidecar, state, _ = case_state(case)
    release_name, payload = release_layout(sidecar, state)
    path = tmp_path / (name or release_name)
    torch.save(payload, path)
    return path, sidecar


def test_a_patch_2_file_is_refused_by_the_2x2_variant(tmp_path):
    path, _ = _save(tmp_path, "dit_class_image_dpms")
    with pytest.raises(CheckpointError, match=r"patch_size \(1, 2, 2\).*'DiT-XL/2x2'"):
        load_transformer(path, config={"type": "DiT-XL/2x2", "condition": "label_10"})


def test_a_class_conditional_file_is_refused_by_a_text_conditioned_model(tmp_path):
    path, _ = _save(tmp_path, "latte_class_video_dpms")
    with pytest.raises(CheckpointError, match="class-conditional model.*condition='text'"):
        load_transformer(path, config={"type": "Latte-XL/2", "condition": "text"})
    with pytest.raises(CheckpointError, match="7 classes.*'label_101'"):
        load_transformer(path, config={"type": "Latte-XL/2", "condition": "label_101"})


def test_a_caption_file_is_refused_by_a_class_conditional_model(tmp_path):
    path, _ = _save(tmp_path, "latte_text_depth4_iddpm")
    with pytest.raises(CheckpointError, match="caption-conditioned.*'label_1000'"):
        load_transformer(path, config={"type": "Latte-XL/2", "condition": "label_1000"})


@pytest.mark.parametrize(
    "case, asked, detected",
    [
        ("pixartms_datainfo_nosigma", "PixArt-XL/2", "PixArtMS"),
        ("pixart_video_scaled_iddpm", "PixArtMS-XL/2", "PixArt"),
        ("dit_class_image_dpms", "PixArt-XL/2", "DiT"),
        ("pixart_video_scaled_iddpm", "STDiT-XL/2", "PixArt"),
        ("pixart_sigma_qknorm_kvcompress_dpms", "PixArt-XL/2", "PixArt_Sigma"),
    ],
)
def test_a_file_of_another_model_is_named(tmp_path, case, asked, detected):
    path, _ = _save(tmp_path, case)
    with pytest.raises(CheckpointError, match=f"holds a {detected} transformer.*{asked}"):
        load_transformer(path, config={"type": asked})


def test_pixart_alpha_file_loads_as_sigma(tmp_path):
    path, sidecar = _save(tmp_path, "pixart1b_portrait_basesize_dpms")
    model = load_transformer(path, config={"type": "PixArt-Sigma-XL/2"})
    assert type(model).__name__ == "PixArt_Sigma"


@pytest.mark.parametrize("length", [10, 6])
def test_null_caption_is_extended_or_truncated_to_model_max_length(tmp_path, length):
    path, _ = _save(tmp_path, "pixart_video_scaled_iddpm")
    _, state, _ = case_state("pixart_video_scaled_iddpm")
    stored = state["y_embedder.y_embedding"]  # 8 rows
    model = load_transformer(path, config={"model_max_length": length})
    null = model.y_embedder.y_embedding
    assert null.shape[0] == length
    kept = min(length, stored.shape[0])
    torch.testing.assert_close(null[:kept], stored[:kept])
    if length > stored.shape[0]:
        torch.testing.assert_close(null[kept:], stored[-1:].expand(length - kept, -1))


def test_stored_tables_give_the_trained_size_and_scale(tmp_path):
    path, _ = _save(tmp_path, "pixart_video_scaled_iddpm")
    model = load_transformer(path)
    # 8x12 latent at space_scale 0.5; the temporal table is not in the release layout.
    assert model.config["input_size"] == (1, 8, 12)
    assert model.config["space_scale"] == 0.5


@pytest.mark.parametrize("case", zoo_cases())
def test_open_sora_layout_safetensors_loads(case, tmp_path):
    # Open-Sora's own key layout (what its trainer saves), position tables included.
    from safetensors.torch import save_file

    sidecar, state, tensors = case_state(case)
    save_file(state, str(tmp_path / "model.safetensors"))
    kwargs = sidecar["constructor_kwargs"]
    config = {key: kwargs[key] for key in CONFIG_ONLY if key in kwargs}
    model = load_transformer(
        tmp_path / "model.safetensors", config={"type": sidecar["reference"]["class"], **config}
    )
    assert_close(run_case(model, sidecar, tensors), tensors["output.out"], what=case)
