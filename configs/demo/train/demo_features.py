# The embedded demo model's transformer trained on cached features (issue 16): the VAE
# latents and T5 captions of configs/demo/train/demo.py's data, written once by
#   opensora-extract-features configs/demo/train/demo.py --data-path CSV --save-dir FEATURES
# then trained on without either encoder (each step skips ~2.4 s of VAE encoding on a 2-core
# CPU). `python -m sora_core.demo.build` runs both.
_base_ = ["demo.py"]

dataset = dict(type="BatchFeatureDataset", data_path=None, _delete_=True)
