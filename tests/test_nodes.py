"""The ComfyUI nodes without ComfyUI: declarations checked by ComfyUI's rules, and every
node's function run on tiny models, chained as a workflow would chain them.

The pack is imported the way ComfyUI imports it (`pack_loader`).
"""

import copy
import json

import pytest
import torch
from node_rules import schema_problems
from pack_loader import pack_module
from tiny_models import TEXT_ENCODER, TRANSFORMER, VAE

from golden import PROJECT_ROOT
from sora_core.acceleration.compile import transformer_blocks
from sora_core.demo import embedded
from sora_core.errors import VideoShapeError

spec_module = pack_module("spec")
SPECS = pack_module("catalog").SPECS
loaders = pack_module("loaders")
text_encode = pack_module("text_encode")
mask_strategy = pack_module("mask_strategy")
sampling = pack_module("sampling")
vae_nodes = pack_module("vae_nodes")
paths = pack_module("paths")
SIZE = 32
FRAMES = 17


# --- declarations -------------------------------------------------------------------------
@pytest.mark.parametrize("node", SPECS, ids=lambda node: node.node_id)
def test_node_declaration_is_valid_by_comfyui_rules(node):
    assert schema_problems(node) == []


def test_node_ids_are_unique_and_every_kind_of_node_is_there():
    ids = [node.node_id for node in SPECS]
    assert len(set(ids)) == len(ids)
    assert set(ids) == {
        "OpenSoraTransformerLoader",
        "OpenSoraVAELoader",
        "OpenSoraT5Loader",
        "OpenSoraLoRA",
        "OpenSoraTextEncode",
        "OpenSoraClassLabel",
        "OpenSoraMaskStrategy",
        "OpenSoraSampler",
        "OpenSoraLongVideo",
        "OpenSoraVAEDecode",
        "OpenSoraVAEEncode",
        "OpenSoraTrain",
        "OpenSoraDemoFrame",
    }


def test_schema_check_finds_what_comfyui_would_reject():
    Input, NodeSpec, Output = spec_module.Input, spec_module.NodeSpec, spec_module.Output
    bad = NodeSpec(
        node_id="Sora_Bad",
        display_name="Bad",
        category="video",
        description="d",
        inputs=(
            Input("steps", "INT", "t", default=0, min=1, max=10),
            Input("kind", "COMBO", "t", default="c", options=("a", "b")),
            Input("seed", "FLOAT", "", default=0.0, control_after_generate=True),
        ),
        outputs=(Output("LATENT", "latent", "t"),),
        execute=lambda **_: (),
    )
    problems = "\n".join(schema_problems(bad))
    for expected in (
        "node id 'Sora_Bad'",
        "category 'video'",
        "default 0 outside [1, 10]",
        "default 'c' is not an option",
        "input 'seed' has no tooltip",
        "control_after_generate is not an argument of a FLOAT input",
    ):
        assert expected in problems


def test_locales_describe_every_node_input_and_output():
    definitions = json.loads((PROJECT_ROOT / "locales/en/main.json").read_text())["nodeDefs"]
    assert set(definitions) == {node.node_id for node in SPECS}
    for node in SPECS:
        entry = definitions[node.node_id]
        assert entry["display_name"] == node.display_name
        assert entry["description"] == node.description
        assert {name: item["tooltip"] for name, item in entry["inputs"].items()} == {
            item.name: item.tooltip for item in node.inputs
        }
        assert [entry["outputs"][str(i)]["name"] for i in range(len(node.outputs))] == [
            output.name for output in node.outputs
        ]


# --- validation (what validate_inputs returns) --------------------------------------------
def _node(node_id: str):
    return next(node for node in SPECS if node.node_id == node_id)


@pytest.mark.parametrize(
    ("node_id", "values", "field"),
    [
        ("OpenSoraSampler", {"sampler_name": "euler"}, "sampler_name:"),
        ("OpenSoraSampler", {"width": 32, "height": 0}, "width/height:"),
        ("OpenSoraSampler", {"width": 40, "height": 32}, "width:"),
        ("OpenSoraVAELoader", {"tile_size": 1}, "tile_size:"),
        ("OpenSoraMaskStrategy", {"raw_strategy": "0,x"}, "raw_strategy:"),
        ("OpenSoraMaskStrategy", {"preset": "edit", "edit_ratio": 0.0}, "edit_ratio:"),
        (
            "OpenSoraMaskStrategy",
            {"preset": "keyframes", "keyframe_positions": "a"},
            "keyframe_positions:",
        ),
        ("OpenSoraMaskStrategy", {"preset": "warp"}, "preset:"),
        ("OpenSoraTextEncode", {"release": "1.1", "aesthetic_score": 6.5}, "aesthetic_score:"),
    ],
)
def test_invalid_widget_values_are_rejected_naming_the_field(node_id, values, field):
    message = spec_module.validate_values(_node(node_id), values)
    assert isinstance(message, str) and message.startswith(field), message


def test_valid_widget_values_pass_validation():
    sampler = _node("OpenSoraSampler")
    widgets = {item.name: item.default for item in sampler.inputs if item.default is not None}
    assert spec_module.validate_values(sampler, widgets) is True
    # Linked inputs arrive as None at validation time.
    assert spec_module.validate_values(_node("OpenSoraMaskStrategy"), {"preset": "connect"})


# --- model files --------------------------------------------------------------------------
def test_loader_choices_list_files_and_model_folders(tiny_models_dir):
    assert TRANSFORMER in paths.model_choices("transformer")
    assert VAE in paths.model_choices("vae")
    assert paths.model_choices("text_encoder") == sorted(
        [TEXT_ENCODER, paths.EMBEDDED_CHOICES["text_encoder"]]
    )


def test_every_loader_lists_the_embedded_demo_model_and_resolves_it_inside_the_pack(
    tiny_models_dir,
):
    for role, choice in paths.EMBEDDED_CHOICES.items():
        assert choice in paths.model_choices(role), role
        resolved = paths.resolve_model(role, choice)
        assert resolved.exists() and embedded.MODEL_DIR in resolved.parents, role
    assert paths.EMBEDDED_CHOICES["transformer"] not in paths.model_choices("vae")


@pytest.mark.parametrize("name", ["../vae/" + VAE, "/etc/passwd", "C:/x.safetensors", ""])
def test_model_names_leaving_the_model_folders_are_refused(tiny_models_dir, name):
    with pytest.raises(pack_errors().CheckpointError, match="refused"):
        paths.resolve_model("transformer", name)


def test_missing_model_says_where_to_put_it(tiny_models_dir):
    with pytest.raises(pack_errors().CheckpointError, match="downloads nothing.*models/opensora"):
        loaders.load_transformer("absent.safetensors", "default", "auto")


def pack_errors():
    import sora_core.errors

    return sora_core.errors


# --- running the nodes on tiny models -----------------------------------------------------
def test_the_transformer_loader_compiles_blocks_and_accepts_a_block_swap(tiny_models_dir):
    (plain,) = loaders.load_transformer(TRANSFORMER, "fp32", "sdpa")
    (loaded,) = loaders.load_transformer(TRANSFORMER, "fp32", "sdpa", 1, True)
    blocks = transformer_blocks(loaded.model)
    assert all(block._compiled_call_impl is not None for block in blocks)
    assert all(block._compiled_call_impl is None for block in transformer_blocks(plain.model))
    assert loaded.managed.patcher is None  # outside ComfyUI the CPU holds every block


@pytest.fixture(scope="module")
def models(tiny_models_dir):
    (model,) = loaders.load_transformer(TRANSFORMER, "fp32", "sdpa")
    (vae,) = loaders.load_vae(VAE, "default", 0)
    (t5,) = loaders.load_text_encoder(TEXT_ENCODER, "fp32", "default", 300)
    return model, vae, t5


@pytest.fixture(scope="module")
def conditioning(models):
    prompt = "a red fox in the snow\na red fox jumps"
    return text_encode.encode_prompt(models[2], prompt, "1.2", 6.5, -1.0, "pan left")[0]


def sample(models, conditioning, seed=42, strategy=None, frames=FRAMES, width=SIZE, height=SIZE):
    model, vae, _ = models
    (latent,) = sampling.sample_clip(
        model,
        vae,
        conditioning,
        "rflow",
        2,
        7.0,
        seed,
        "240p",
        "9:16",
        width,
        height,
        frames,
        0.0,
        24.0,
        mask_strategy=strategy,
    )
    return latent


def encoded_references(vae, references, seed):
    """The reference latents the sampler writes in: same codec, same first random draws."""
    from sora_core.conditioning import encode_references, load_references
    from sora_core.pipeline import PlacedCodec, Placement
    from sora_core.samplers import GeneratorNoise

    codec = PlacedCodec(vae.vae, Placement(torch.device("cpu")), GeneratorNoise(seed))
    return encode_references(codec, [load_references(list(references), (SIZE, SIZE))])[0]


def build(preset, images=None, video=None, previous=None, **widgets):
    values = {
        "loop_index": 0,
        "target_frame": 0,
        "source_start": 0,
        "length": 1,
        "edit_ratio": 0.0,
        "keyframe_positions": "0,-1",
        "extend_side": "tail at start",
        "images_are_video": False,
        "raw_strategy": "",
        **widgets,
    }
    return mask_strategy.build_mask_strategy(
        preset, images=images, video=video, previous=previous, **values
    )


def test_loaders_detect_releases_and_text_encode_keeps_one_encoding_per_loop(models, conditioning):
    model, vae, _ = models
    assert model.release == "1.2"
    assert vae.vae.out_channels == 4
    assert conditioning.release == "1.2" and len(conditioning.per_loop) == 2
    assert conditioning.prompts.for_loop(1)[0].endswith(
        "aesthetic score: 6.5. camera motion: pan left."
    )
    assert conditioning.for_loop(0).y.shape[:2] == (1, 1)
    assert conditioning.for_loop(5) is conditioning.for_loop(1)  # the last line carries on


def test_text_to_video_chain_gives_frames_and_a_video(models, conditioning):
    latent = sample(models, conditioning)
    assert latent["samples"].shape == (1, 4, 5, SIZE // 8, SIZE // 8)
    frames, video = vae_nodes.decode(models[1], latent, 0.0, 0)
    assert frames.shape == (FRAMES, SIZE, SIZE, 3)
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    assert video.fps == 24.0 and video.frames is frames


def test_same_seed_repeats_and_another_seed_changes_the_clip(models, conditioning):
    first, again, other = (sample(models, conditioning, seed)["samples"] for seed in (3, 3, 4))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, other)


def test_image_to_video_keeps_the_image_as_first_latent_frame(models, conditioning):
    image = torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(1))
    strategy, text = build("image-to-video", images=image)
    assert text == "0"
    latent = sample(models, conditioning, seed=5, strategy=strategy)["samples"]
    (reference,) = encoded_references(models[1], [image], seed=5)
    torch.testing.assert_close(latent[0, :, 0], reference[:, 0], atol=1e-5, rtol=1e-5)


def test_image_to_video_at_a_width_off_the_8_pixel_grid(models, conditioning):
    # Open-Sora's own sizes can be off the grid (240p 9:16 is 426 wide): the clip decodes to
    # the width rounded down, and references are encoded at that decoded size.
    image = torch.rand(1, SIZE, SIZE + 6, 3, generator=torch.Generator().manual_seed(3))
    strategy, _ = build("image-to-video", images=image)
    latent = sample(models, conditioning, seed=5, strategy=strategy, width=SIZE + 6)
    assert latent["samples"].shape[-2:] == (SIZE // 8, (SIZE + 6) // 8)
    frames, _ = vae_nodes.decode(models[1], latent, 0.0, 0)
    assert frames.shape == (FRAMES, SIZE, SIZE, 3)


def test_connect_keeps_first_and_last_frames(models, conditioning):
    images = torch.rand(2, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(2))
    strategy, text = build("connect", images=images)
    assert text == "0;0,1,0,-1,1"
    latent = sample(models, conditioning, seed=6, strategy=strategy)["samples"]
    first, last = encoded_references(models[1], [images[:1], images[1:]], seed=6)
    torch.testing.assert_close(latent[0, :, 0], first[:, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(latent[0, :, -1], last[:, 0], atol=1e-5, rtol=1e-5)


def test_extend_continues_from_the_videos_tail(models, conditioning):
    frames, _ = vae_nodes.decode(models[1], sample(models, conditioning, seed=7), 0.0, 0)
    strategy, text = build("extend", images=frames, images_are_video=True, length=2)
    assert text == "0,0,-2,0,2"
    latent = sample(models, conditioning, seed=8, strategy=strategy)["samples"]
    (reference,) = encoded_references(models[1], [frames], seed=8)
    torch.testing.assert_close(latent[0, :, :2], reference[:, -2:], atol=1e-5, rtol=1e-5)


def test_edit_regenerates_a_video_passed_as_video_input(models, conditioning):
    frames, _ = vae_nodes.decode(models[1], sample(models, conditioning, seed=9), 0.0, 0)
    strategy, text = build("edit", video=frames, length=5, edit_ratio=0.5)
    assert text == "0,0,0,0,5,0.5"
    edited = sample(models, conditioning, seed=10, strategy=strategy)["samples"]
    plain = sample(models, conditioning, seed=10)["samples"]
    assert edited.shape == plain.shape and not torch.allclose(edited, plain)


def test_chained_builders_shift_reference_indices(models):
    images = torch.rand(3, SIZE, SIZE, 3)
    first, _ = build("image-to-video", images=images[:1])
    chained, text = build(
        "custom", images=images[1:], previous=first, target_frame=-1, raw_strategy="0,0,0,2,1"
    )
    assert len(chained.references) == 3
    assert text == "0;0,1,0,-1,1;0,2,0,-1,1;0,0,0,2,1"


def test_keyframes_place_each_reference(models, conditioning):
    images = torch.rand(2, SIZE, SIZE, 3)
    strategy, text = build("keyframes", images=images, keyframe_positions="0, 3")
    assert text == "0;0,1,0,3,1"
    assert sample(models, conditioning, strategy=strategy)["samples"].shape[2] == 5


def test_long_video_loop_stitches_clips_with_per_loop_prompts(models, conditioning):
    model, vae, _ = models
    frames, video = sampling.generate_long(
        model,
        vae,
        conditioning,
        "rflow",
        2,
        7.0,
        11,
        "240p",
        "9:16",
        SIZE,
        SIZE,
        34,
        0.0,
        12.0,
        2,
        5,
        0.0,
    )
    # Each later clip repeats the 17 frames its 5 condition latents decode to.
    assert frames.shape == (34 + 34 - 17, SIZE, SIZE, 3)
    assert video.fps == 12.0


def test_vae_encode_then_decode_keeps_the_frame_count(models):
    frames = torch.rand(FRAMES, SIZE, SIZE, 3)
    (latent,) = vae_nodes.encode(models[1], frames)
    assert latent["samples"].shape == (1, 4, 5, SIZE // 8, SIZE // 8)
    decoded, _ = vae_nodes.decode(models[1], latent, 8.0, 0)
    assert decoded.shape == frames.shape


# --- errors are messages, not tracebacks from deep inside torch ---------------------------
def test_prompt_for_another_release_is_refused(models):
    conditioning = text_encode.encode_prompt(models[2], "a fox", "1.1", -1.0, -1.0, "none")[0]
    with pytest.raises(pack_errors().ConfigError, match="release: .*1.1.*set release to 1.2"):
        sample(models, conditioning)


def test_connect_with_one_image_names_the_images_input():
    with pytest.raises(pack_errors().MaskStrategyError, match="images: the connect preset needs 2"):
        build("connect", images=torch.rand(1, SIZE, SIZE, 3))


def test_groups_for_later_loops_need_the_long_video_node(models, conditioning):
    strategy, _ = build("image-to-video", images=torch.rand(1, SIZE, SIZE, 3), loop_index=1)
    with pytest.raises(pack_errors().MaskStrategyError, match="loop_index"):
        sample(models, conditioning, strategy=strategy)


def test_overlapping_groups_are_errors_not_silently_clipped(models, conditioning):
    strategy, _ = build("custom", images=torch.rand(1, SIZE, SIZE, 3), target_frame=4, length=3)
    with pytest.raises(pack_errors().SoraError, match="copies 3 latent frames"):
        sample(models, conditioning, strategy=strategy)


def test_too_short_reference_video_is_reported_in_its_frames_and_seconds(models, conditioning):
    frames, _ = vae_nodes.decode(models[1], sample(models, conditioning, seed=9), 0.0, 0)
    strategy, _ = build("edit", video=frames[:9], length=5, edit_ratio=0.5)
    # The 1.2 VAE: 9 frames -> 3 latent frames; 5 latent frames need 17 frames (13-16 give 4).
    message = (
        r"reference 0 is a video of 9 frames \(0.38 s at 24 fps\), 3 latent frames; the group "
        r"copies 5 latent frames from latent frame 0, which needs a video of at least 17 frames "
        r"\(0.71 s at 24 fps\)"
    )
    with pytest.raises(pack_errors().ReferenceMediaError, match=message):
        sample(models, conditioning, strategy=strategy)
    # Copied from 2 latent frames before the end: no longer video helps, the length must drop.
    strategy, text = build("custom", video=frames[:9], source_start=-2, length=3)
    assert text == "0,0,-2,0,3"
    with pytest.raises(pack_errors().ReferenceMediaError, match="set its length to 2 or less"):
        sample(models, conditioning, strategy=strategy)


def test_the_step_cache_input_skips_transformer_calls(models, conditioning):
    model, vae, _ = models
    runs = []
    hook = model.model.spatial_blocks[0].register_forward_pre_hook(lambda *_: runs.append(1))
    counts = []
    try:
        for threshold in (0.0, 2.0):
            runs.clear()
            sampling.sample_clip(
                model, vae, conditioning, "rflow", 5, 7.0, 42, "240p", "9:16", SIZE, SIZE,
                FRAMES, 0.0, 24.0, step_cache=threshold,
            )  # fmt: skip
            counts.append(len(runs))
    finally:
        hook.remove()
    assert counts[0] == 5 and 2 <= counts[1] < 5


def test_long_video_with_unstitchable_lengths_fails_before_sampling(models, conditioning):
    model, vae, _ = models
    with pytest.raises(pack_errors().SoraError, match="condition_frame_length|multiple of 5"):
        sampling.generate_long(
            model,
            vae,
            conditioning,
            "rflow",
            2,
            7.0,
            0,
            "240p",
            "9:16",
            SIZE,
            SIZE,
            17,
            0.0,
            24.0,
            2,
            3,
            0.0,
        )


def test_mixed_prompt_syntaxes_are_refused(models):
    with pytest.raises(pack_errors().PromptError, match="prompt: use either"):
        text_encode.encode_prompt(models[2], "|0|a fox\nb", "1.2", -1.0, -1.0, "none")


def test_duration_times_fps_is_held_to_the_frame_limit():
    frame_count = pack_module("sampling").frame_count
    assert frame_count(51, 2.0, 24) == 48
    with pytest.raises(VideoShapeError, match="60 s at 120 fps is 7200 frames; .* at most 1024"):
        frame_count(51, 60.0, 120)


def test_cancel_is_checked_inside_each_sampling_step_and_vae_decode(
    models, conditioning, monkeypatch
):
    # Checking only between steps let Cancel wait minutes for a long step or decode.
    runtime, values = pack_module("runtime"), pack_module("values")
    checks = []
    monkeypatch.setattr(runtime, "check_interrupted", lambda: checks.append(None))
    transformer, vae, t5 = models
    copies = (
        values.LoadedTransformer(
            transformer.name,
            transformer.release,
            runtime.ManagedModel(runtime.interruptible(copy.deepcopy(transformer.model))),
        ),
        values.LoadedVAE(
            vae.name, runtime.ManagedModel(runtime.interruptible(copy.deepcopy(vae.vae)))
        ),
        t5,
    )
    latent = sample(copies, conditioning)  # 2 steps, 2 progress updates
    blocks = sum(
        len(child)
        for child in transformer.model.modules()
        if isinstance(child, torch.nn.ModuleList)
    )
    assert len(checks) >= 2 * blocks + 2
    checks.clear()
    vae_nodes.decode(copies[1], latent, 8.0, 0)
    assert len(checks) >= 2


def test_model_list_survives_links_that_loop(tmp_path):
    root = tmp_path / "diffusion_models"
    (root / "a").mkdir(parents=True)
    (root / "a" / "m.safetensors").write_bytes(b"")
    (root / "a" / "back").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self", target_is_directory=True)  # dangling: loops on itself
    (root / "other").symlink_to(root / "a", target_is_directory=True)
    entries = paths._entries(root)
    assert "a/m.safetensors" in entries and len(entries) <= 3


def test_demo_frame_draws_the_training_clips_shape_where_asked():
    from sora_core.demo.analysis import read_clip

    (image,) = pack_module("demo").draw_demo_frame("green", "triangle", "gray", 0.25, 0.5, 96, 64)
    assert image.shape == (1, 64, 96, 3) and 0 <= float(image.min()) <= float(image.max()) <= 1
    frames = (image * 255).round().byte().numpy()
    reading = read_clip(frames)
    assert (reading.colour, reading.shape, reading.background) == ("green", "triangle", "gray")
    ys, xs = (frames[0] != frames[0, 0, 0]).any(axis=-1).nonzero()
    assert abs(xs.mean() - 0.25 * 96) < 2 and abs(ys.mean() - 0.5 * 64) < 3
