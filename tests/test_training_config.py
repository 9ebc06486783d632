"""Open-Sora's training configs read with the restricted evaluator: the v1.2, v1.1 and 1.0
samples pass; bad keys and values are named before anything loads; flags merge as the
reference's `merge_args` does."""

import pytest

from sora_core.errors import ConfigError
from sora_core.training.config import check_config, parallelism, resolve_train_config
from sora_core.training.metrics import require_wandb

# Abridged from Open-Sora v1.2.0 configs/opensora-v1-2/train/stage1.py (same keys and forms).
STAGE1_V12 = """
dataset = dict(type="VariableVideoTextDataset", transform_name="resize_crop")
bucket_config = {
    "144p": {1: (1.0, 475), 51: (1.0, 51), 102: ((1.0, 0.33), 27)},
    "240p": {1: (0.3, 297), 51: (0.4, 20), 102: ((0.4, 0.33), 10)},
}
grad_checkpoint = True
num_workers = 8
num_bucket_build_workers = 16
dtype = "bf16"
plugin = "zero2"
model = dict(type="STDiT3-XL/2", from_pretrained=None, qk_norm=True, enable_flash_attn=True,
             enable_layernorm_kernel=True, freeze_y_embedder=True)
vae = dict(type="OpenSoraVAE_V1_2", from_pretrained="/mnt/vae", micro_frame_size=17, micro_batch_size=4)
text_encoder = dict(type="t5", from_pretrained="DeepFloyd/t5-v1_1-xxl", model_max_length=300,
                    shardformer=True, local_files_only=True)
scheduler = dict(type="rflow", use_timestep_transform=True, sample_method="logit-normal")
mask_ratios = {"random": 0.05, "intepolate": 0.005, "quarter_random": 0.005, "image_head": 0.05}
seed = 42
outputs = "outputs"
wandb = False
epochs = 1000
log_every = 10
ckpt_every = 200
load = None
grad_clip = 1.0
lr = 1e-4
ema_decay = 0.99
adam_eps = 1e-15
warmup_steps = 1000
"""

# Abridged from v1.2.0 configs/opensora-v1-1/train/stage1.py.
STAGE1_V11 = """
dataset = dict(type="VariableVideoTextDataset", data_path=None, num_frames=None, frame_interval=3,
               image_size=(None, None), transform_name="resize_crop")
bucket_config = {"144p": {1: (0.5, 48), 16: (1.0, 6)}, "256": {1: (0.5, 24), 64: (0.0, None)}}
mask_ratios = {"identity": 0.75, "quarter_random": 0.025, "quarter_head": 0.025,
               "quarter_tail": 0.025, "quarter_head_tail": 0.05, "image_random": 0.025,
               "image_head": 0.025, "image_tail": 0.025, "image_head_tail": 0.05}
num_workers = 8
num_bucket_build_workers = 16
dtype = "bf16"
grad_checkpoint = False
plugin = "zero2"
sp_size = 1
model = dict(type="STDiT2-XL/2", from_pretrained=None, input_sq_size=512, qk_norm=True,
             qk_norm_legacy=True, enable_flash_attn=True, enable_layernorm_kernel=True)
vae = dict(type="VideoAutoencoderKL", from_pretrained="stabilityai/sd-vae-ft-ema", micro_batch_size=4,
           local_files_only=True)
text_encoder = dict(type="t5", from_pretrained="DeepFloyd/t5-v1_1-xxl", model_max_length=200,
                    shardformer=True, local_files_only=True)
scheduler = dict(type="iddpm", timestep_respacing="")
seed = 42
outputs = "outputs"
wandb = False
epochs = 1000
log_every = 10
ckpt_every = 500
load = None
batch_size = None
lr = 2e-5
grad_clip = 1.0
"""

# v1.2.0 configs/opensora/train/16x256x256.py.
V10_16X256 = """
dataset = dict(type="VideoTextDataset", data_path=None, num_frames=16, frame_interval=3,
               image_size=(256, 256))
num_workers = 0
dtype = "bf16"
grad_checkpoint = True
plugin = "zero2"
sp_size = 1
model = dict(type="STDiT-XL/2", space_scale=0.5, time_scale=1.0,
             from_pretrained="PixArt-XL-2-512x512.pth", enable_flash_attn=True,
             enable_layernorm_kernel=True)
vae = dict(type="VideoAutoencoderKL", from_pretrained="stabilityai/sd-vae-ft-ema")
text_encoder = dict(type="t5", from_pretrained="DeepFloyd/t5-v1_1-xxl", model_max_length=120,
                    shardformer=True)
scheduler = dict(type="iddpm", timestep_respacing="")
seed = 42
outputs = "outputs"
wandb = False
epochs = 1000
log_every = 10
ckpt_every = 1000
load = None
batch_size = 8
lr = 2e-5
grad_clip = 1.0
"""


@pytest.mark.parametrize("text", [STAGE1_V12, STAGE1_V11, V10_16X256], ids=["v1.2", "v1.1", "v1.0"])
def test_released_training_configs_are_accepted(tmp_path, text):
    path = tmp_path / "train.py"
    path.write_text(text)
    settings = resolve_train_config(
        [
            str(path),
            "--data-path",
            "clips.csv",
            "--seed",
            "3",
            "--ckpt-path",
            "ema.pt",
            "--batch-size",
            "4",
            "--outputs",
            "o",
        ]
    )
    assert settings["dataset"]["data_path"] == "clips.csv"
    assert settings["model"]["from_pretrained"] == "ema.pt"
    assert (settings["seed"], settings["batch_size"], settings["outputs"]) == (3, 4, "o")
    assert parallelism(settings).strategy == "fsdp"


def _config(**overrides):
    base = {
        "dataset": {"type": "VariableVideoTextDataset", "data_path": "x.csv"},
        "model": {"type": "STDiT3"},
        "scheduler": {"type": "rflow"},
    }
    return {**base, **overrides}


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match=r"\['lr_decay', 'use_z_rec_loss'\]"):
        check_config(_config(lr_decay=0.1, use_z_rec_loss=True), "cfg.py")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"dtype": "int8"}, "dtype"),
        ({"sp_size": 2}, "sequence parallelism"),
        ({"plugin": "zero2-seq"}, "sequence parallelism"),
        ({"plugin": "gemini"}, "plugin"),
        ({"epochs": 0}, "epochs"),
        ({"keep_last_ckpts": 0}, "keep_last_ckpts"),
        ({"model": "STDiT3"}, "model"),
        ({"dataset": {"type": "VariableVideoTextDataset"}}, "--data-path"),
    ],
)
def test_bad_values_name_the_key(overrides, named):
    with pytest.raises(ConfigError, match=named):
        check_config(_config(**overrides), "cfg.py")


def test_plugins_map_onto_ddp_and_fsdp2():
    assert parallelism({"plugin": "ddp"}).strategy == "ddp"
    zero2 = parallelism({"plugin": "zero2"})
    assert (zero2.strategy, zero2.reshard_after_forward) == ("fsdp", False)
    assert parallelism({"plugin": "fsdp"}).reshard_after_forward is True


def test_wandb_without_the_package_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ConfigError, match="pip install wandb"):
        require_wandb()


def test_fp32_is_accepted_for_cpu_runs():
    assert check_config(_config(dtype="fp32"), "cfg.py")["dtype"] == "fp32"
