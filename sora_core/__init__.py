"""Open-Sora 1.0/1.1/1.2 as a plain PyTorch library: models, VAEs, text, samplers, pipeline.

Nothing here imports ComfyUI; the pack's `nodes/` are thin wrappers over this package.
Submodules are imported on first use so that `import sora_core` stays cheap.
"""

__version__ = "0.1.0"
