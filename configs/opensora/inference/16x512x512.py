# Open-Sora 1.0 text-to-video, 16 frames at 512x512: STDiT-XL/2, the SD VAE per frame,
# IDDPM. Give the release file with --ckpt-path (OpenSora-v1-HQ-16x512x512.pth).
num_frames = 16
fps = 24 // 3
image_size = (512, 512)

model = dict(
    type="STDiT-XL/2",
    space_scale=1.0,
    time_scale=1.0,
    from_pretrained="./pretrained_models/OpenSora-v1-HQ-16x512x512.pth",
)
vae = dict(
    type="VideoAutoencoderKL", from_pretrained="stabilityai/sd-vae-ft-ema", micro_batch_size=4
)
text_encoder = dict(type="t5", from_pretrained="DeepFloyd/t5-v1_1-xxl", model_max_length=120)
scheduler = dict(type="iddpm", num_sampling_steps=100, cfg_scale=7.0, cfg_channel=3)
dtype = "bf16"

batch_size = 1
seed = 42
save_dir = "./samples/samples/"
