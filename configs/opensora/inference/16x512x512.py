# Open-Sora 1.0 text-to-video, 16 frames at 512x512: the 16x256x256 settings with the
# full-size position tables. Give the release file with --ckpt-path
# (OpenSora-v1-HQ-16x512x512.pth).
_base_ = ["16x256x256.py"]

image_size = (512, 512)
model = dict(
    space_scale=1.0,
    from_pretrained="./pretrained_models/OpenSora-v1-HQ-16x512x512.pth",
)
