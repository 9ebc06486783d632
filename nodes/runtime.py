"""ComfyUI's runtime services for the nodes, and quiet stand-ins outside ComfyUI.

Inside ComfyUI: devices and memory from `comfy.model_management` (so `--cpu`, `--lowvram`
and offloading apply), models wrapped in `ModelPatcher`, `comfy.utils.ProgressBar` with
latent previews, and interruption between steps and inside them (before every block).
Outside (tests, scripts) the same calls run on the CPU and report nothing. `comfy` modules are imported lazily, here only.
"""

from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import import_module

import torch


def _comfy(module: str):
    """A `comfy` module when running inside ComfyUI, else None."""
    try:
        return import_module(module)
    except ImportError:
        return None


def inside_comfyui() -> bool:
    """True when ComfyUI's model management is importable."""
    return _comfy("comfy.model_management") is not None


def check_interrupted() -> None:
    """Raise ComfyUI's interruption exception if the user pressed Cancel (no-op outside)."""
    management = _comfy("comfy.model_management")
    if management is not None:
        management.throw_exception_if_processing_interrupted()


def interrupt_requested() -> bool:
    """Whether the user pressed Cancel, without raising (the trainer stops between steps)."""
    management = _comfy("comfy.model_management")
    return management is not None and management.processing_interrupted()


def intermediate_device() -> torch.device:
    """Where node outputs (frames, latents) live between nodes: the CPU unless --gpu-only."""
    management = _comfy("comfy.model_management")
    return management.intermediate_device() if management else torch.device("cpu")


# (load device, offload device) per model role, from ComfyUI's placement rules.
_DEVICE_RULES = {
    "diffusion": ("get_torch_device", "unet_offload_device"),
    "vae": ("vae_device", "vae_offload_device"),
    "text_encoder": ("text_encoder_device", "text_encoder_offload_device"),
}


def model_devices(role: str) -> "tuple[torch.device, torch.device]":
    """(device to compute on, device to rest on) for a model `role`."""
    management = _comfy("comfy.model_management")
    if management is None:
        return torch.device("cpu"), torch.device("cpu")
    load, offload = _DEVICE_RULES[role]
    return getattr(management, load)(), getattr(management, offload)()


@dataclass
class ManagedModel:
    """A module under ComfyUI's memory manager (a `ModelPatcher`), or a plain CPU module.

    `loras`: outside ComfyUI, the `(LoRAWeights, strength)` chain this value carries; the
    module wears exactly these adapters while it is loaded (ComfyUI's patches do that inside).
    """

    module: torch.nn.Module
    patcher: object = None
    load_device: torch.device = torch.device("cpu")
    loras: tuple = ()

    def load(self, memory_required: int = 0) -> torch.device:
        """Bring the weights to the compute device (ComfyUI may offload others) and return it;
        `memory_required` bytes of activations are kept free (fewer weights load if need be)."""
        return load_together(self, memory_required=memory_required)


def load_together(*models: ManagedModel, memory_required: int = 0) -> torch.device:
    """Load every model to its compute device in one request (so none evicts another),
    keeping `memory_required` bytes free for the activations (as ComfyUI's own VAE does)."""
    patchers = [model.patcher for model in models if model.patcher is not None]
    for model in models:
        if model.patcher is None:
            _wear_loras(model)
    if patchers:
        # Partial (--lowvram) loading is decided per model: see `manage`.
        options = {"memory_required": memory_required} if memory_required else {}
        _comfy("comfy.model_management").load_models_gpu(patchers, **options)
    return models[0].load_device


_block_checks = {"on": True}


def _check_before_forward(module: torch.nn.Module, inputs) -> None:
    if _block_checks["on"]:
        check_interrupted()


@contextmanager
def cancel_between_steps_only():
    """Inside: Cancel is not raised before blocks; the caller checks between its steps.

    Training needs this: a step cut in half would lose everything since the last save,
    while a step finished is saved on the way out (see `interrupt_requested`)."""
    _block_checks["on"] = False
    try:
        yield
    finally:
        _block_checks["on"] = True


def unload_for_training() -> None:
    """Unload every model ComfyUI holds: the trained transformer is a copy it does not
    manage, so only the frozen encoders, loaded next, should share the device with it."""
    management = _comfy("comfy.model_management")
    if management is not None:
        management.unload_all_models()
        management.soft_empty_cache()


def interruptible(module: torch.nn.Module) -> torch.nn.Module:
    """Check for Cancel before each block of `module` runs (every child of a ModuleList).

    Between steps is not enough: one step of a large transformer, or one VAE decode of
    hundreds of frames on a CPU, takes minutes. Blocks are coarse enough for the check
    (a lock and a flag) to cost nothing measurable.
    """
    for child in module.modules():
        if isinstance(child, torch.nn.ModuleList):
            for block in child:
                block.register_forward_pre_hook(_check_before_forward)
    return module


def _wear_loras(model: ManagedModel) -> None:
    """Outside ComfyUI: take off the adapters of an earlier chain, put on this value's."""
    from sora_core.lora import LoRALinear, apply_lora, remove_lora

    if model.loras or any(isinstance(m, LoRALinear) for m in model.module.modules()):
        remove_lora(model.module)
        for weights, strength in model.loras:
            apply_lora(model.module, weights, strength)


def with_lora(model: ManagedModel, weights, strength: float) -> ManagedModel:
    """`model` with one more adapter (`sora_core.lora.LoRAWeights`) at `strength`.

    Inside ComfyUI: a `ModelPatcher` clone with the adapter as weight patches (same module,
    patched on load, un-patched when another clone loads). Outside: the chain grows.
    """
    if model.patcher is None:
        return replace(model, loras=(*model.loras, (weights, strength)))
    tensors, key_map = {}, {}
    alpha = torch.tensor(weights.config.alpha)
    for path, (lora_a, lora_b) in weights.layers.items():
        # comfy.lora reads `{x}.lora_A/B.weight` (diffusers/PEFT) and `{x}.alpha`.
        tensors.update({f"{path}.lora_A.weight": lora_a, f"{path}.lora_B.weight": lora_b})
        tensors[f"{path}.alpha"] = alpha
        key_map[path] = f"inner.{path}.weight"  # the `_Holder` prefix
    patches = _comfy("comfy.lora").load_lora(tensors, key_map)
    patcher = model.patcher.clone()
    patcher.add_patches(patches, strength)
    return replace(model, patcher=patcher)


class _Holder(torch.nn.Module):
    """Gives ModelPatcher the writable `device` attribute it sets (our modules' is a property)."""

    def __init__(self, inner: torch.nn.Module, device: torch.device):
        super().__init__()
        self.inner = inner
        self.device = device


def _load_rule_patcher(patcher_class: type, budget: "int | None") -> type:
    """A `ModelPatcher` that loads its model whole (`budget` None), or at most `budget`
    bytes of it, the rest cast to the device layer by layer (ComfyUI's partial load)."""

    class RulePatcher(patcher_class):
        def load(
            self, device_to=None, lowvram_model_memory=0, force_patch_weights=False,
            full_load=False, **_,
        ):  # fmt: skip
            if budget is None:
                return super().load(device_to, lowvram_model_memory, force_patch_weights, True)
            # ComfyUI's 0 means "everything fits": the budget then decides alone.
            asked = lowvram_model_memory if lowvram_model_memory > 0 else budget
            return super().load(device_to, min(asked, budget), force_patch_weights, False)

    return RulePatcher


def manage(
    module: torch.nn.Module,
    devices: "tuple[torch.device, torch.device]",
    resident_blocks: "int | None" = None,
) -> ManagedModel:
    """Wrap `module` for ComfyUI's model management between (compute, rest) `devices`.

    A module whose every weight is cast on use (`weights_cast_on_use`: our transformers',
    T5's and VAEs' layers meet `comfy.ops`' contract) may be loaded partially under
    `--lowvram`/`--novram` or when memory is short, the rest cast to the device layer by
    layer; any other module is always loaded whole. `resident_blocks` (block swap, such
    modules only) caps the load at the weights outside the blocks plus that many blocks'
    worth, so the rest streams from CPU memory layer by layer. Outside ComfyUI it stays where it is.
    """
    patcher_module = _comfy("comfy.model_patcher")
    if patcher_module is None:
        return ManagedModel(module)
    load_device, offload_device = devices
    interruptible(module)
    module.to(offload_device)
    patcher_class = patcher_module.ModelPatcher
    if not getattr(module, "weights_cast_on_use", False):
        patcher_class = _load_rule_patcher(patcher_class, None)
    elif resident_blocks is not None:
        from sora_core.acceleration.block_swap import resident_bytes

        budget = max(resident_bytes(module, resident_blocks), 1)
        patcher_class = _load_rule_patcher(patcher_class, budget)
    patcher = patcher_class(
        _Holder(module, offload_device), load_device=load_device, offload_device=offload_device
    )
    return ManagedModel(module, patcher, load_device)


def previews_enabled() -> bool:
    """Whether ComfyUI was started with latent previews on (`--preview-method`)."""
    cli_args = _comfy("comfy.cli_args")
    if cli_args is None:
        return False
    return cli_args.args.preview_method != cli_args.LatentPreviewMethod.NoPreviews


def _preview_image(rgb: torch.Tensor):
    """(3, H, W) in [-1, 1] -> ComfyUI's preview tuple ("JPEG", PIL image, max size)."""
    from PIL import Image

    pixels = ((rgb.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    image = Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy())
    max_size = _comfy("comfy.cli_args").args.preview_size
    return "JPEG", image, max_size


class Progress:
    """A ComfyUI progress bar over `total` units; each update also checks for interruption."""

    def __init__(self, total: int):
        utils = _comfy("comfy.utils")
        self.bar = utils.ProgressBar(total) if utils is not None else None
        self.total = total
        self.done = 0
        self.updates = 0

    def set(
        self,
        done: int,
        total: int,
        preview_rgb: "torch.Tensor | None" = None,
        interrupt: bool = True,
    ) -> None:
        """`done` of `total` units finished; `preview_rgb` (3, H, W) in [-1, 1] is shown.
        `interrupt=False` leaves Cancel to the caller (see `interrupt_requested`)."""
        self.done, self.total = min(done, total), total
        self.updates += 1
        if self.bar is not None:
            preview = _preview_image(preview_rgb) if preview_rgb is not None else None
            self.bar.update_absolute(self.done, self.total, preview)
        if interrupt:
            check_interrupted()


class StepProgress:
    """A progress bar over training steps that never raises Cancel in the middle of a run.

    ComfyUI's progress hook raises (and clears) the interruption as the bar moves; here
    that is caught and remembered, `should_stop` tells the trainer to save and stop, and
    `raise_if_cancelled` ends the prompt as interrupted once the work is safe."""

    def __init__(self, total: int):
        self.progress = Progress(total)
        self.cancelled = False

    def step(self, done: int, total: int, loss: "float | None" = None) -> None:
        management = _comfy("comfy.model_management")
        try:
            self.progress.set(done, total, interrupt=False)
        except Exception as error:
            if management is None or not isinstance(error, management.InterruptProcessingException):
                raise
            self.cancelled = True

    def should_stop(self) -> bool:
        self.cancelled = self.cancelled or interrupt_requested()
        return self.cancelled

    def raise_if_cancelled(self) -> None:
        management = _comfy("comfy.model_management")
        if self.cancelled and management is not None:
            raise management.InterruptProcessingException()
