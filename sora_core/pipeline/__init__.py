"""The generation pipeline: prompts, references and a seed in, decoded videos out.

One route, shared by `opensora-generate` and the ComfyUI nodes:

1. **Text** — the caller prepares the prompts once (`text.prepare_prompts` with a
   `text.PromptOptions` record: release, 1.2 score and camera captions), then
   `encode_prompts(text_encoder, prepared, loops)` encodes every loop's texts once ->
   `PromptEncoding` (`.conditioning(i, transformer)` is a `samplers.TextConditioning`:
   caption, mask, learned null caption). The ComfyUI text node's output is this encoding.
2. **References** — `load_reference_media(sources, settings)` loads each prompt's images
   and videos (paths or IMAGE frames) at the size the clip decodes to.
3. **Generation** — `generate_batch(models, encoding, settings, noise, references=,
   mask_strategies=, callback=, decode=)` encodes the references, then per loop draws the
   latent (`draw_latent`), writes the mask strategy in (`conditioning.generate_long_video`,
   the only place that does), samples (`sample_latent`, with `size_conditioning`), decodes
   and stitches -> `BatchResult.video` (B, 3, T, H, W) in about [-1, 1] and `.latent`.
4. **Decode** — `decode_latent(vae, latent, placement, num_frames)`; `PlacedCodec` is the
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
    generate_batch,
    load_reference_media,
)
from .placement import Placement, default_device, peak_memory, reset_peak_memory, working
from .sampling import (
    MULTI_RESOLUTION,
    draw_latent,
    model_multi_resolution,
    sample_latent,
    size_conditioning,
)
from .text import EncodedTexts, PromptEncoding, encode_prompts, encode_texts

__all__ = [
    "MULTI_RESOLUTION",
    "BatchResult",
    "ClipSettings",
    "EncodedTexts",
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
    "encode_texts",
    "generate_batch",
    "load_reference_media",
    "model_multi_resolution",
    "peak_memory",
    "reset_peak_memory",
    "sample_latent",
    "size_conditioning",
    "vae_noise",
    "working",
]
