"""The real-ComfyUI low-VRAM check's own parts (`tools/comfy_lowvram_check.py`, the extra pack
`tools/comfy_memory_limit`), without ComfyUI: what the workflows save, and that the pack
makes ComfyUI's `load_models_gpu` see a limited device only for its own call."""

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_variant_saves_the_sampler_latent_and_the_decoded_frames():
    check = load_path("comfy_lowvram_check", ROOT / "tools" / "comfy_lowvram_check.py")
    workflow = json.loads((ROOT / "workflows/api/demo_text_to_video.json").read_text())
    graphs = check.variants(workflow, "big.safetensors")
    assert set(graphs) == {"fp32", "fp32_block_swap_1", "fp8", "fp32_sd_vae"}
    for name, graph in graphs.items():
        kinds = {node["class_type"]: node["inputs"] for node in graph.values()}
        sampler = next(k for k, n in graph.items() if n["class_type"] == "OpenSoraSampler")
        decode = next(k for k, n in graph.items() if n["class_type"] == "OpenSoraVAEDecode")
        assert kinds["SaveLatent"]["samples"] == [sampler, 0], name
        assert kinds["SaveImage"]["images"] == [decode, 0], name
        dtype = "fp8" if name == "fp8" else "fp32"
        assert (
            kinds["OpenSoraTransformerLoader"]["dtype"]
            == kinds["OpenSoraVAELoader"]["dtype"]
            == dtype
        )
    assert graphs["fp32_sd_vae"] != graphs["fp32"]
    assert workflow == json.loads((ROOT / "workflows/api/demo_text_to_video.json").read_text())


class _Management(types.ModuleType):
    """The parts of `comfy.model_management` the pack touches."""

    VRAMState = types.SimpleNamespace(NO_VRAM="no", LOW_VRAM="low", DISABLED="off")

    def __init__(self):
        super().__init__("comfy.model_management")
        self.vram_state, self.lowvram_available = self.VRAMState.DISABLED, False
        self.current_loaded_models, self.seen = [], []
        self.is_device_cpu = lambda device: True
        self.get_free_memory = lambda dev=None, torch_free_too=False: 1 << 40

    def load_models_gpu(self, models, **options):
        self.seen.append((self.is_device_cpu("cpu"), self.get_free_memory("cpu"), self.vram_state))


@pytest.mark.parametrize(
    ("limit", "free", "state"), [("novram", 1 << 40, "no"), ("lowvram:300", 300 << 20, "low")]
)
def test_the_memory_limit_pack_limits_only_comfyuis_load_call(monkeypatch, limit, free, state):
    management = _Management()
    monkeypatch.setitem(sys.modules, "comfy", types.ModuleType("comfy"))
    monkeypatch.setitem(sys.modules, "comfy.model_management", management)
    patcher = types.SimpleNamespace(
        ModelPatcher=type("ModelPatcher", (), {"load": lambda *a: None})
    )
    monkeypatch.setitem(sys.modules, "comfy.model_patcher", patcher)
    monkeypatch.setenv("OPENSORA_VRAM_LIMIT", limit)
    monkeypatch.delenv("OPENSORA_LOAD_REPORT", raising=False)
    load_path("comfy_memory_limit", ROOT / "tools" / "comfy_memory_limit" / "__init__.py")
    management.load_models_gpu([])
    assert management.seen == [(False, free, state)]
    assert management.is_device_cpu("cpu") and management.get_free_memory("cpu") == 1 << 40
