"""A test-only ComfyUI custom node pack (no nodes): ComfyUI's low-VRAM loading on a CPU.

ComfyUI loads every model whole when its load device is the CPU (`load_models_gpu` gives a
CPU device `VRAMState.DISABLED`), so `--lowvram`/`--novram` never bite on a CPU-only
machine. Loaded beside the node pack (`comfy_e2e.py --extra-pack`), this makes
`load_models_gpu` treat the CPU as a device with little memory, and records what
ComfyUI's own `ModelPatcher.load` then keeps on the device:

- `OPENSORA_VRAM_LIMIT=novram`: ComfyUI's `--novram` rule (a 0.1-byte budget: every
  cast-on-use layer stays in offload memory and is cast on use);
- `OPENSORA_VRAM_LIMIT=lowvram:MB`: `--lowvram` with MB of free device memory (ComfyUI
  then loads at least 128 MB of a model);
- `OPENSORA_LOAD_REPORT=path`: one JSON line per `ModelPatcher.load` (model class, its
  size, the MB loaded and left offloaded, the layers left to cast on use).

Nothing else of ComfyUI changes; the device and offload device are both the CPU, so this
exercises ComfyUI's decisions and our layers' side of the contract, not a transfer.
`tools/comfy_lowvram_check.py` runs workflows with and without it and compares outputs.
"""

import json
import logging
import os

import comfy.model_management as management
import comfy.model_patcher as model_patcher

NODE_CLASS_MAPPINGS: dict = {}
MB = 1024 * 1024


def _free_memory(budget: int):
    real = management.get_free_memory

    def get_free_memory(dev=None, torch_free_too=False):
        # What a device with `budget` bytes has left once the loaded weights are counted.
        used = sum(m.model_loaded_memory() for m in management.current_loaded_models)
        free = max(budget - used, 0)
        return (free, free) if torch_free_too else free

    return real, get_free_memory


def _limit(mode: str) -> None:
    if mode == "novram":
        management.vram_state = management.VRAMState.NO_VRAM
        free_memory = None
    elif mode.startswith("lowvram:"):
        management.vram_state = management.VRAMState.LOW_VRAM
        free_memory = _free_memory(int(float(mode.split(":", 1)[1]) * MB))
    else:
        raise ValueError(f"OPENSORA_VRAM_LIMIT: {mode!r}; expected 'novram' or 'lowvram:MB'")
    management.lowvram_available = True
    load_models_gpu, is_device_cpu = management.load_models_gpu, management.is_device_cpu

    def limited_load_models_gpu(*args, **kwargs):
        # For this call only: the CPU is a device with limited memory, not VRAMState.DISABLED.
        management.is_device_cpu = lambda device: False
        if free_memory is not None:
            management.get_free_memory = free_memory[1]
        try:
            return load_models_gpu(*args, **kwargs)
        finally:
            management.is_device_cpu = is_device_cpu
            if free_memory is not None:
                management.get_free_memory = free_memory[0]

    management.load_models_gpu = limited_load_models_gpu
    logging.info("comfy_memory_limit: the CPU is loaded as a device under %s", mode)


def _record(path: str) -> None:
    load = model_patcher.ModelPatcher.load

    def recorded_load(self, device_to=None, lowvram_model_memory=0, *args, **kwargs):
        result = load(self, device_to, lowvram_model_memory, *args, **kwargs)
        inner = getattr(self.model, "inner", self.model)
        cast_on_use = [m for m in self.model.modules() if hasattr(m, "prev_comfy_cast_weights")]
        size, loaded = self.model_size(), self.model.model_loaded_weight_memory
        entry = {
            "model": type(inner).__name__,
            "budget_mb": round(lowvram_model_memory / MB, 3),
            "size_mb": round(size / MB, 3),
            "loaded_mb": round(loaded / MB, 3),
            "offloaded_mb": round((size - loaded) / MB, 3),
            "cast_on_use_layers": len(cast_on_use),
            "layers": sum(1 for m in self.model.modules() if hasattr(m, "comfy_cast_weights")),
        }
        with open(path, "a") as report:
            report.write(json.dumps(entry) + "\n")
        return result

    model_patcher.ModelPatcher.load = recorded_load


if os.environ.get("OPENSORA_VRAM_LIMIT"):
    _limit(os.environ["OPENSORA_VRAM_LIMIT"])
if os.environ.get("OPENSORA_LOAD_REPORT"):
    _record(os.environ["OPENSORA_LOAD_REPORT"])
