# Open-Sora 1.1 text-to-video: STDiT2-XL/2 (stage 3 weights), the SD VAE per frame, IDDPM.
num_frames = 16
frame_interval = 3
fps = 24
image_size = (240, 426)
multi_resolution = "STDiT2"

# The 1.1 release's transformers repo carries its own config.json (input_sq_size 512,
# qk_norm); the loader applies the release's legacy qk-norm order for these weights.
model = dict(
    type="STDiT2-XL/2",
    from_pretrained="hpcai-tech/OpenSora-STDiT-v2-stage3",
    input_sq_size=512,
    qk_norm=True,
    qk_norm_legacy=True,
)
vae = dict(
    type="VideoAutoencoderKL", from_pretrained="stabilityai/sd-vae-ft-ema", micro_batch_size=4
)
text_encoder = dict(type="t5", from_pretrained="DeepFloyd/t5-v1_1-xxl", model_max_length=200)
scheduler = dict(type="iddpm", num_sampling_steps=100, cfg_scale=7.0, cfg_channel=3)
dtype = "bf16"

batch_size = 1
seed = 42
save_dir = "./samples/samples/"
