"""The feature cache: VAE latents and T5 embeddings stored once per batch, trained on later
without either encoder in memory (Open-Sora's `extract_feat` and `BatchFeatureDataset`).

`extract_features` runs the training loader once (unshuffled) and writes one safetensors
file per batch under `save_dir/<T>x<H>x<W>/` (one folder per bucket size), with `index.json`
listing them. A stored batch holds `x` (latents), `y`, `mask` (text features) and the size
tensors; `BatchFeatureDataset` gives it back in the batch contract of `loader.py`, with
`video` = the latents and `text` = the embeddings (and `mask`). The posterior draw is seeded
per batch (`seed + batch number`), so the cached latents can be recomputed exactly.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import ConfigError, DatasetError
from ..json_files import read_json_file
from ..vae.posterior import generator_noise

INDEX_FILE = "index.json"
SIZE_KEYS = ("num_frames", "height", "width", "ar", "fps")


def posterior_noise(seed: int, batch_number: int):
    """The VAE posterior noise of cached batch `batch_number` (to recompute its latents)."""
    return generator_noise(torch.Generator().manual_seed(seed + batch_number))


@torch.no_grad()
def extract_features(
    loader, vae, text_encoder, save_dir: "str | Path", seed: int = 0
) -> "list[Path]":
    """Encode every batch of `loader` (epoch 0) and store it; returns the files written."""
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    dims: dict = {}
    for batch_number, batch in enumerate(loader.batches(0)):
        if not batch["index"]:
            continue  # every file of this batch was skipped
        device = next(vae.parameters()).device
        video = batch["video"].to(device, next(vae.parameters()).dtype)
        latents = vae.encode(video, noise=posterior_noise(seed, batch_number))
        text = text_encoder.encode(list(batch["text"]))
        T, H, W = batch["video"].shape[2:]
        relative = Path(f"{T}x{H}x{W}") / f"batch{batch_number:06d}.safetensors"
        tensors = {
            "x": latents.float().cpu().contiguous(),
            "y": text["y"].float().cpu().contiguous(),
            "mask": text["mask"].cpu().contiguous(),
            "index": torch.tensor(batch["index"], dtype=torch.int64),
            **{key: batch[key] for key in SIZE_KEYS},
        }
        _save_atomically(tensors, save_dir / relative)
        dims = {
            "vae_out_channels": latents.shape[1],
            "text_encoder_output_dim": text["y"].shape[-1],
            "text_encoder_model_max_length": text["y"].shape[-2],
        }
        files.append(relative.as_posix())
    index = {"files": files, "seed": seed, "fixed_size": loader.fixed_size, "dims": dims}
    (save_dir / INDEX_FILE).write_text(json.dumps(index, indent=1), encoding="utf-8")
    return [save_dir / name for name in files]


def _save_atomically(tensors: dict, path: Path) -> None:
    # A crash mid-write leaves a .tmp file, never a truncated batch under the final name.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    save_file(tensors, str(partial))
    os.replace(partial, path)


class BatchFeatureDataset(torch.utils.data.Dataset):
    """Cached batches from `extract_features`; item `i` is stored batch `i`, whole."""

    def __init__(self, data_path: "str | Path"):
        self.data_path = Path(data_path)
        index = self.data_path / INDEX_FILE
        if not index.is_file():
            raise DatasetError(
                f"feature cache {str(self.data_path)!r} has no {INDEX_FILE}; write it with "
                f"opensora-extract-features CONFIG --data-path CSV --save-dir DIR"
            )
        meta = read_json_file(index, "feature cache index", DatasetError)
        names = meta.get("files")
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise DatasetError(f"{str(index)!r}: 'files' must be a list of file names")
        self.files = [self.data_path / name for name in names]
        missing = [str(path) for path in self.files if not path.is_file()]
        if missing:
            raise DatasetError(f"feature cache {str(self.data_path)!r} lacks {missing[:3]}")
        if not self.files:
            raise DatasetError(f"feature cache {str(self.data_path)!r} holds no batch")
        self.fixed_size = tuple(meta["fixed_size"]) if meta.get("fixed_size") else None
        # The widths a transformer trained on these features takes (as training settings).
        self.dims = dict(meta.get("dims", {}))

    def set_epoch(self, epoch: int) -> None:
        """Cached batches do not change between epochs."""

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: int) -> dict:
        tensors = load_file(str(self.files[item]))
        batch = {
            "video": tensors["x"],
            "text": tensors["y"],
            "mask": tensors["mask"],
            "index": tensors["index"].tolist(),
            "skipped": [],
        }
        batch.update({key: tensors[key] for key in SIZE_KEYS})
        return batch


class FeatureBatchSampler(torch.utils.data.Sampler):
    """Stored batches shuffled by `seed + epoch` and dealt to ranks in turn (equal counts)."""

    def __init__(
        self,
        num_batches: int,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
    ):
        if num_batches < num_replicas:
            raise ConfigError(
                f"the feature cache has {num_batches} batches for {num_replicas} ranks"
            )
        self.num_batches, self.num_replicas, self.rank = num_batches, num_replicas, rank
        self.shuffle, self.seed = shuffle, seed
        self.epoch, self.start_step = 0, 0

    @property
    def invalid_rows(self) -> list:
        """No table rows: nothing is skipped up front."""
        return []

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def num_steps(self) -> int:
        return self.num_batches // self.num_replicas

    def __iter__(self) -> "Iterator[list[int]]":
        order = list(range(self.num_batches))
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_batches, generator=generator).tolist()
        mine = order[self.rank :: self.num_replicas][: self.num_steps()]
        for item in mine[self.start_step :]:
            yield [item]
        self.start_step = 0

    def __len__(self) -> int:
        return self.num_steps() - self.start_step

    def state_dict(self, num_steps: int) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "start_step": num_steps}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
        self.start_step = int(state["start_step"])


def collate_stored_batch(items: "list[dict]") -> dict:
    """A stored batch is already a batch: the sampler hands over one at a time."""
    (batch,) = items
    return batch
