"""Where a `from_pretrained` name lives on this machine: a local file or folder, or a snapshot
in the local Hugging Face cache. Nothing is ever downloaded.

A name that can only be a path (it starts with `/`, `.` or `~`, has a weights-file extension,
or is not of the `owner/name` form of a repo id) is reported as a missing file, never looked
up as a repo id.
"""

import os
import re
from pathlib import Path

from .errors import CheckpointError

REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
WEIGHT_SUFFIXES = {".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".gguf", ".json"}


def hub_cache_dirs(cache_dir: "str | None" = None) -> "list[Path]":
    """The Hugging Face cache folders searched: `cache_dir`, else HF_HUB_CACHE, else HF_HOME/hub."""
    if cache_dir:
        return [Path(cache_dir).expanduser()]
    if os.environ.get("HF_HUB_CACHE"):
        return [Path(os.environ["HF_HUB_CACHE"])]
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return [home / "hub"]


def cached_snapshot(repo_id: str, cache_dir: "str | None" = None) -> "Path | None":
    """The cached snapshot of `repo_id` (the one `refs/main` names, else the newest), or None."""
    for root in hub_cache_dirs(cache_dir):
        repo = root / ("models--" + repo_id.replace("/", "--"))
        ref = repo / "refs" / "main"
        if ref.is_file():
            snapshot = repo / "snapshots" / ref.read_text().strip()
            if snapshot.is_dir():
                return snapshot
        snapshots = sorted((repo / "snapshots").glob("*")) if (repo / "snapshots").is_dir() else []
        if snapshots:
            return snapshots[-1]
    return None


def looks_like_path(name: str) -> bool:
    """True when `name` can only mean a file or folder, not a Hugging Face repo id."""
    if name.startswith(("/", ".", "~")) or "\\" in name or ":" in name:
        return True
    if Path(name).suffix.lower() in WEIGHT_SUFFIXES:
        return True
    return REPO_ID.fullmatch(name) is None


def locate(name: "str | os.PathLike", field: str, cache_dir: "str | None" = None) -> Path:
    """The local path of `name` (a path or a cached repo id); `CheckpointError` names `field`."""
    text = str(name)
    path = Path(text).expanduser()
    if path.exists():
        return path
    if looks_like_path(text):
        raise CheckpointError(
            f"{field}: {text!r} does not exist (no file or folder at {path.absolute()})"
        )
    snapshot = cached_snapshot(text, cache_dir)
    if snapshot is not None:
        return snapshot
    raise CheckpointError(
        f"{field}: {text!r} is neither a local file or folder nor in the local Hugging Face "
        f"cache (looked in {', '.join(str(d) for d in hub_cache_dirs(cache_dir))}); nothing is "
        f"downloaded. Fetch it with `hf download {text}` (from the huggingface_hub package), "
        "or give the path of the downloaded files instead"
    )
