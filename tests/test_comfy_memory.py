"""ComfyUI low-VRAM loading: our transformer, T5 and VAE layers meet `comfy.ops`' cast-on-use
contract, so ModelPatcher's partial load (its 0.3.64 rules, played here with float64 "CPU
memory") gives the resident model's output; fp8 weight storage computes in bf16.
(`tools/comfy_lowvram_check.py` runs ComfyUI's own ModelPatcher on the same models.)"""

import copy
import sys
import types
from unittest import mock

import pytest
import torch
from safetensors.torch import save_file
from text_helpers import fp32_encoder
from vae_helpers import tiny_sd_config, tiny_v12_config, tiny_vae, video

from nodes import runtime
from sora_core.checkpoints import build_model, load_vae
from sora_core.models import STDiT3
from sora_core.models.layers import FP8_WEIGHT_LAYERS, CastOnUse, Linear

CONFIG = {"type": "STDiT3", "depth": 2, "hidden_size": 48, "num_heads": 2,
          "caption_channels": 16, "model_max_length": 8}  # fmt: skip


def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(CONFIG).eval()


def inputs() -> dict:
    g = torch.Generator().manual_seed(1)
    return {
        "x": torch.randn(2, 4, 3, 8, 8, generator=g),
        "timestep": torch.tensor([500.0, 500.0]),
        "y": torch.randn(2, 1, 8, 16, generator=g),
        "mask": torch.tensor([[1] * 8, [1] * 6 + [0] * 2]),
        "x_mask": torch.tensor([[False, True, True]] * 2),
        "height": torch.tensor([64.0]),
        "width": torch.tensor([64.0]),
        "fps": torch.tensor([24.0]),
    }


def module_bytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def partial_load(model: torch.nn.Module, budget: int) -> "tuple[int, int]":
    """ComfyUI 0.3.64 `ModelPatcher.load` with `lowvram_model_memory=budget`.

    The CPU is played by float64 storage and the device by float32: modules ComfyUI would
    move become float32, the rest stay float64 (lowvram layers get `comfy_cast_weights`;
    non-leaf parameters and buffers are never moved). Returns (loaded, left) module counts.
    """
    model.double()
    if hasattr(model, "rope"):
        # RoPE computes its angles in its table's own dtype on purpose (fp32 under bf16
        # weights); only its device follows the activations, so it keeps float32 here.
        model.rope.freqs.data = model.rope.freqs.data.float()
    loading = []
    for _, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if len(list(module.parameters())) > len(own):
            continue  # "skip random weights in non leaf modules"
        if hasattr(module, "comfy_cast_weights") or own:
            loading.append((module_bytes(module), id(module), module))
    loading.sort(key=lambda entry: entry[:2], reverse=True)
    used, loaded, left = 0, 0, 0
    for size, _, module in loading:
        if hasattr(module, "comfy_cast_weights") and used + size >= budget:
            module.comfy_cast_weights, left = True, left + 1
        elif used + size < budget:
            used, loaded = used + size, loaded + 1
            module.float()
        else:
            left += 1
    return loaded, left


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.7])
def test_a_partially_loaded_transformer_equals_the_resident_one(fraction):
    resident = tiny()
    with torch.no_grad():
        expected = resident(**inputs())
    model = tiny()
    loaded, left = partial_load(model, int(module_bytes(model) * 2 * fraction))  # fp64 sizes
    assert left > 0 and (loaded > 0) == (fraction > 0)
    # On a real device the activations' dtype follows the stored weights; here the storage
    # dtype plays the device, so the computation dtype is pinned to float32.
    with mock.patch.object(STDiT3, "compute_dtype", property(lambda self: torch.float32)):
        with torch.no_grad():
            got = model(**inputs())
    assert torch.equal(got, expected)


def test_cast_on_use_layers_apply_comfy_weight_patches():
    layer = Linear(3, 2)
    x = torch.randn(4, 3)
    layer.comfy_cast_weights = True
    layer.weight_function = [lambda weight: weight * 0]
    layer.bias_function = [lambda bias: bias + 1]
    torch.testing.assert_close(layer(x), (layer.bias + 1).expand(4, 2))


def test_every_transformer_layer_with_weights_is_cast_on_use_or_cast_by_its_owner():
    model = tiny()
    for name, module in model.named_modules():
        own = dict(module.named_parameters(recurse=False))
        if own and not isinstance(module, CastOnUse):
            # The rest are read through `cast_like` (tables, q/k norm weights, RoPE).
            assert set(own) <= {"scale_shift_table", "weight", "freqs"}, name


class _Patcher:
    """Stand-in for `comfy.model_patcher.ModelPatcher`: records how it was asked to load."""

    def __init__(self, model, load_device, offload_device):
        self.model, self.calls = model, []

    def load(self, device_to=None, lowvram_model_memory=0, force_patch_weights=False,
             full_load=False):  # fmt: skip
        self.calls.append((lowvram_model_memory, full_load))


@pytest.fixture
def comfy(monkeypatch):
    management = types.SimpleNamespace(requests=[])

    def load_models_gpu(patchers, **options):
        management.requests.append(options)
        for patcher in patchers:
            patcher.load(torch.device("cpu"), 1024)  # a budget smaller than any model

    management.load_models_gpu = load_models_gpu
    monkeypatch.setitem(sys.modules, "comfy", types.ModuleType("comfy"))
    monkeypatch.setitem(sys.modules, "comfy.model_management", management)
    monkeypatch.setitem(
        sys.modules, "comfy.model_patcher", types.SimpleNamespace(ModelPatcher=_Patcher)
    )
    return management


def test_the_transformer_t5_and_vae_may_load_partially_other_modules_whole(comfy):
    cpu = (torch.device("cpu"), torch.device("cpu"))
    transformer = runtime.manage(tiny(), cpu)
    t5 = runtime.manage(t5_model(), cpu)
    vae = runtime.manage(tiny_vae(tiny_v12_config()), cpu)
    other = runtime.manage(torch.nn.Conv2d(3, 3, 1), cpu)
    runtime.load_together(transformer, t5, vae, other)
    assert comfy.requests == [{}]  # no force_full_load for the group
    assert transformer.patcher.calls == t5.patcher.calls == vae.patcher.calls == [(1024, False)]
    assert other.patcher.calls == [(1024, True)]


def test_block_swap_caps_the_partial_load_at_the_resident_blocks(comfy):
    from sora_core.acceleration.block_swap import resident_bytes

    cpu = (torch.device("cpu"), torch.device("cpu"))
    model = tiny()
    budget = resident_bytes(model, 1)
    assert module_bytes(model) > budget > resident_bytes(model, 0) > 0
    swapped = runtime.manage(model, cpu, resident_blocks=1)
    swapped.patcher.load(torch.device("cpu"), 0, False, True)  # ComfyUI: "it all fits"
    swapped.patcher.load(torch.device("cpu"), budget * 4)  # more room than the cap
    swapped.patcher.load(torch.device("cpu"), 16)  # less room than the cap
    assert swapped.patcher.calls == [(budget, False), (budget, False), (16, False)]


@pytest.mark.parametrize("resident", [0, 1])
def test_a_block_swapped_partial_load_equals_the_resident_model(resident):
    from sora_core.acceleration.block_swap import resident_bytes

    with torch.no_grad():
        expected = tiny()(**inputs())
    model = tiny()
    # float64 "CPU memory" holds twice the bytes of the float32 sizes.
    loaded, left = partial_load(model, 2 * resident_bytes(model, resident))
    assert loaded > 0 and left > 0
    with mock.patch.object(STDiT3, "compute_dtype", property(lambda self: torch.float32)):
        with torch.no_grad():
            got = model(**inputs())
    assert torch.equal(got, expected)


# --- T5 ---------------------------------------------------------------------------------------
def t5_model() -> torch.nn.Module:
    return copy.deepcopy(fp32_encoder(8).model)  # the encoder is shared between tests


def test_every_t5_layer_with_weights_is_cast_on_use():
    model = t5_model()
    assert model.weights_cast_on_use
    for name, module in model.named_modules():
        if list(module.parameters(recurse=False)):
            assert isinstance(module, CastOnUse), name


@pytest.mark.parametrize("fraction", [0.6, 0.8])
def test_a_partially_loaded_t5_equals_the_resident_one(fraction):
    ids = torch.randint(2, 512, (2, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = t5_model()(input_ids=ids).last_hidden_state
    model = t5_model()
    loaded, left = partial_load(model, int(module_bytes(model) * 2 * fraction))
    # The embedding table, the largest module, is loaded first; some layers are left.
    assert left > 0 and loaded > 0 and model.shared.weight.dtype == torch.float32
    with torch.no_grad():
        got = model(input_ids=ids).last_hidden_state
    # Tables left in float64 "CPU memory" (the relative position bias) promote the sums
    # after them to float64 here, which a real device (same dtype in both memories) would
    # not: equal up to float32 round-off.
    torch.testing.assert_close(got.float(), expected, rtol=0, atol=1e-5)


# --- VAE ----------------------------------------------------------------------------------------
VAE_CONFIGS = {"sd": tiny_sd_config, "v1.2": tiny_v12_config}


@pytest.mark.parametrize("family", VAE_CONFIGS)
def test_every_vae_layer_with_weights_is_cast_on_use(family):
    vae = tiny_vae(VAE_CONFIGS[family]())
    assert vae.weights_cast_on_use
    for name, module in vae.named_modules():
        if list(module.parameters(recurse=False)):
            assert isinstance(module, CastOnUse), name


def vae_outputs(vae) -> "tuple[torch.Tensor, torch.Tensor]":
    """(posterior-mean latent of a 9-frame video, its decoded video)."""
    with torch.no_grad():
        latent = vae.encode(video((1, 3, 9, 32, 24), seed=3), sample_posterior=False)
        return latent, vae.decode(latent, num_frames=9)


@pytest.mark.parametrize("tile_size", [None, 2])
@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.7])
@pytest.mark.parametrize("family", VAE_CONFIGS)
def test_a_partially_loaded_vae_equals_the_resident_one(family, fraction, tile_size):
    expected = vae_outputs(tiny_vae(VAE_CONFIGS[family](tile_size=tile_size)))
    vae = tiny_vae(VAE_CONFIGS[family](tile_size=tile_size))
    loaded, left = partial_load(vae, int(module_bytes(vae) * 2 * fraction))
    assert left > 0 and (loaded > 0) == (fraction > 0)
    if family == "v1.2":  # the latent statistics (buffers of the root) stay in "CPU memory"
        assert vae.scale.dtype == torch.float64
    for got, want in zip(vae_outputs(vae), expected):
        assert got.dtype == torch.float32 and torch.equal(got, want)


@pytest.mark.parametrize("family", VAE_CONFIGS)
def test_fp8_vae_storage_keeps_conv_and_linear_weights_in_8_bits_and_computes_in_bf16(
    family, tmp_path
):
    resident = tiny_vae(VAE_CONFIGS[family]())
    path = tmp_path / "vae.safetensors"
    save_file(resident.state_dict(), str(path))
    fp8 = load_vae(path, VAE_CONFIGS[family](), dtype="fp8")
    assert fp8.dtype == torch.bfloat16
    for name, module in fp8.named_modules():
        for key, weight in module.named_parameters(recurse=False):
            eight_bits = isinstance(module, FP8_WEIGHT_LAYERS) and key == "weight"
            assert weight.dtype == (torch.float8_e4m3fn if eight_bits else torch.bfloat16), name
    # The same numbers as a bf16 VAE holding the fp8-rounded weights: the cast is on use.
    rounded = load_vae(path, VAE_CONFIGS[family](), dtype="bf16")
    with torch.no_grad():
        for weight, stored in zip(rounded.parameters(), fp8.parameters()):
            weight.copy_(stored.to(torch.bfloat16))
    pixels = video((1, 3, 9, 32, 24), seed=3).to(torch.bfloat16)
    with torch.no_grad():
        latent = fp8.encode(pixels, sample_posterior=False)
        assert latent.dtype == torch.bfloat16
        assert torch.equal(latent, rounded.encode(pixels, sample_posterior=False))
        assert torch.equal(fp8.decode(latent, 9), rounded.decode(latent, 9))
        # fp8 rounding moves the output, not beyond what 8-bit weights allow.
        error = (fp8.decode(latent, 9).float() - resident.decode(latent.float(), 9)).abs()
        assert error.mean() < 0.1


class _Stop(Exception):
    """Raised by the stubbed work after the VAE is loaded: the load is what is checked."""


def _stop(*args, **kwargs):
    raise _Stop


def managed_vae(config: dict):
    from nodes.values import LoadedVAE

    vae = tiny_vae(config)
    return LoadedVAE("tiny", runtime.manage(vae, (torch.device("cpu"), torch.device("cpu"))))


# Without chunks, so that the estimates depend on every size.
UNCHUNKED = {
    "sd": tiny_sd_config(),
    "v1.2": tiny_v12_config(micro_batch_size=None, micro_frame_size=None),
}


def test_the_vae_nodes_keep_the_clips_activation_memory_free(comfy):
    from nodes import vae_nodes
    from nodes.vae_nodes import activation_memory

    comfy.intermediate_device = lambda: torch.device("cpu")
    comfy.throw_exception_if_processing_interrupted = lambda: None
    vae = managed_vae(UNCHUNKED["v1.2"])
    samples = torch.randn(2, 4, 2, 4, 3)
    vae_nodes.decode(vae, {"samples": samples, "num_frames": 5}, 8.0, 0)
    vae_nodes.decode(vae, {"samples": samples}, 8.0, 0)  # frame count unknown: at most 8
    vae_nodes.encode(vae, torch.rand(7, 24, 40, 3))
    assert comfy.requests == [
        {"memory_required": activation_memory(vae, 2, 5, 32, 24)},
        {"memory_required": activation_memory(vae, 2, 8, 32, 24)},
        {"memory_required": activation_memory(vae, 1, 7, 24, 40)},
    ]
    assert comfy.requests[0]["memory_required"] == vae.vae.estimate_decode_bytes(4, 3, 2, 5)


def test_the_samplers_vae_load_covers_the_clip_and_its_longest_reference(comfy, monkeypatch):
    import sora_core.pipeline
    from nodes import sampling
    from nodes.vae_nodes import activation_memory
    from nodes.values import MaskStrategyValue
    from sora_core.pipeline import ClipSettings

    monkeypatch.setattr(sampling, "check_conditioning", lambda *args: None)
    monkeypatch.setattr(sampling, "build_sampler", lambda *args: None)
    monkeypatch.setattr(sora_core.pipeline, "generate_batch", _stop)
    transformer = runtime.manage(tiny(), (torch.device("cpu"), torch.device("cpu")))
    model = types.SimpleNamespace(
        model=transformer.module, managed=transformer, release="1.2", sampler_settings=None
    )
    vae = managed_vae(UNCHUNKED["v1.2"])
    prompts = types.SimpleNamespace(batch_size=2)
    settings = ClipSettings(image_size=(36, 64), num_frames=9)  # decodes to 32 x 64
    for references, frames in (((), 9), ((torch.rand(13, 20, 20, 3),), 13)):
        strategy = MaskStrategyValue(references=references)
        with pytest.raises(_Stop):
            sampling.generate(model, vae, prompts, "rflow", 2, 7.0, 0, settings, strategy, True)
        assert comfy.requests[-1] == {"memory_required": activation_memory(vae, 2, frames, 32, 64)}
    # One request for both, so that loading the VAE does not evict the transformer.
    assert transformer.patcher.calls and vae.managed.patcher.calls


def test_training_loads_the_vae_for_a_batch_of_its_largest_clips(comfy, monkeypatch):
    import sora_core.training.finetune
    from nodes import training
    from nodes.vae_nodes import activation_memory

    comfy.unload_all_models = comfy.soft_empty_cache = lambda: None
    request = types.SimpleNamespace(resolution="144p", batch_size=2, num_frames=9, steps=1)
    monkeypatch.setattr(training, "_request", lambda *args, **widgets: request)
    monkeypatch.setattr(sora_core.training.finetune, "finetune", _stop)
    t5_managed = runtime.manage(t5_model(), (torch.device("cpu"), torch.device("cpu")))
    t5 = types.SimpleNamespace(managed=t5_managed, encoder=t5_managed.module)
    vae = managed_vae(UNCHUNKED["sd"])
    with pytest.raises(_Stop):
        training.train(None, vae, t5, "clips", "lora")
    # 144p's largest frame: 192 x 192 (36864 pixels, as 144 x 256).
    assert comfy.requests == [{"memory_required": activation_memory(vae, 2, 9, 192, 192)}]
    assert t5.managed.patcher.calls and vae.managed.patcher.calls


@pytest.mark.parametrize("family", UNCHUNKED)
def test_the_activation_estimate_grows_with_frames_and_shrinks_with_tiling(family):
    from nodes.vae_nodes import activation_memory

    vae = managed_vae(UNCHUNKED[family])
    one, many = activation_memory(vae, 1, 1, 256, 256), activation_memory(vae, 1, 51, 256, 256)
    assert 0 < one < many < activation_memory(vae, 2, 51, 256, 256)
    vae.vae.set_tiling(8)
    assert activation_memory(vae, 1, 51, 256, 256) < many
    assert activation_memory(vae, 1, 51, 256, 256) < activation_memory(vae, 1, 51, 512, 512)


def test_the_1_2_vaes_chunks_bound_the_estimate():
    from nodes.vae_nodes import activation_memory

    vae = managed_vae(tiny_v12_config())  # 17-frame chunks, 4 frames at once in the SD VAE
    assert activation_memory(vae, 1, 17, 64, 64) == activation_memory(vae, 1, 170, 64, 64)
