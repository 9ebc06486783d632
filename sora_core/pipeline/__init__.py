"""The generation pipeline: prompts, references and a seed in, decoded videos out.

One composable path, shared by `opensora-generate` and the ComfyUI nodes:

1. **Text** — `encode_prompts(text_encoder, transformer, prompts, loops, release, ...)`
   applies the release's prompt path (JSON extras, `|i|` loop segments, 1.2 score
   captions, cleaning) and encodes every loop's texts once -> `PromptEncoding`
   (`.for_loop(i)` is a `samplers.TextConditioning`: caption, mask, learned null caption).
   `encode_texts` encodes texts already prepared.
2. **Latent and conditioning** — `draw_latent(noise, B, C, latent_size)` draws the initial
   noise; `encode_reference_sources(codec, sources, image_size)` loads and encodes
   references; `size_conditioning(B, image_size, num_frames, fps)` builds the model's size
   arguments.
3. **Sampling** — `sample_latent(model, sampler, text, latent, noise=, references=,
   mask_strategies=, loop_index=, align=, model_kwargs=, frame_mask=, callback=)` writes
   the condition latents in and denoises one clip -> float32 latent (B, C, T, H, W).
4. **Long video** — `generate_batch(models, prompts, settings, noise, ...)` runs the whole
   batch: text, references, per loop draw / condition / sample / decode, stitching ->
   `BatchResult.video` (B, 3, T, H, W) in about [-1, 1].
5. **Decode** — `decode_latent(vae, latent, placement, num_frames)`; `PlacedCodec` is the
   VAE with seeded posterior draws and device placement that the loop encodes with.

Models sit on the accelerator only while they work (`Placement`, `working`): the text
encoder offloads itself after encoding, the transformer leaves before decoding, the VAE
visits for each encode and decode. Every random number comes from one `NoiseSource`
(`samplers.GeneratorNoise(seed)` by default: CPU draws, the same video on any device) in
the reference's order: reference encodes, then per loop the previous clip's encode, the
initial latent, and one draw per sampler step.
"""

from .codec import PlacedCodec, decode_latent, vae_noise
from .generate import (
    BatchResult,
    ClipSettings,
    GenerationModels,
    LoopStepCallback,
    default_clip_settings,
    encode_reference_sources,
    generate_batch,
)
from .placement import Placement, default_device, peak_memory, reset_peak_memory, working
from .sampling import MULTI_RESOLUTION, draw_latent, sample_latent, size_conditioning
from .text import PromptEncoding, encode_prompts, encode_texts

__all__ = [
    "MULTI_RESOLUTION",
    "BatchResult",
    "ClipSettings",
    "GenerationModels",
    "LoopStepCallback",
    "PlacedCodec",
    "Placement",
    "PromptEncoding",
    "decode_latent",
    "default_clip_settings",
    "default_device",
    "draw_latent",
    "encode_prompts",
    "encode_reference_sources",
    "encode_texts",
    "generate_batch",
    "peak_memory",
    "reset_peak_memory",
    "sample_latent",
    "size_conditioning",
    "vae_noise",
    "working",
]
