"""Model files a workflow may name, and the rule that every name stays inside its folder.

Inside ComfyUI the folders come from `folder_paths` (`models/diffusion_models`, the pack's
`models/opensora`, `models/vae`, `models/text_encoders` + `models/clip`, and whatever
`extra_model_paths.yaml` adds). Outside ComfyUI, `use_models_dir` points them at one
directory laid out the same way. The embedded demo model (`sora_core/demo/model`, laid out
as a models directory) adds its folder of each role, last, in both cases; its files load
through the same loaders, so ComfyUI's model management handles them like any other. A choice is a weights file or a Hugging Face folder (a
folder with `config.json` or a sharded index), listed as `name/`.
"""

import os
from importlib import import_module
from pathlib import Path

from sora_core.demo import embedded
from sora_core.errors import CheckpointError

from .downloads import download_advice

# ComfyUI folder names per model role; `opensora` is the pack's own, registered at load.
ROLE_FOLDERS = {
    "transformer": ("opensora", "diffusion_models"),
    "vae": ("vae", "opensora"),
    "text_encoder": ("text_encoders",),
    "lora": ("loras",),
}
# Where each ComfyUI folder name lives under a models directory.
FOLDER_LAYOUT = {
    "opensora": ("opensora",),
    "diffusion_models": ("diffusion_models", "unet"),
    "vae": ("vae",),
    "text_encoders": ("text_encoders", "clip"),
    "loras": ("loras",),
}
WEIGHT_SUFFIXES = (".safetensors", ".sft", ".pt", ".pth", ".bin", ".ckpt")
# A folder holding one of these is a Hugging Face / diffusers model folder.
FOLDER_MARKERS = (
    "config.json",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
    "diffusion_pytorch_model.safetensors.index.json",
)

# The embedded demo model's choice in each loader (its files under `embedded.MODEL_DIR`).
EMBEDDED_CHOICES = {
    "transformer": Path(embedded.TRANSFORMER_FILE).name,
    "vae": Path(embedded.VAE_DIR).name + "/",
    "text_encoder": Path(embedded.TEXT_ENCODER_DIR).name + "/",
}

_headless_models_dir: "Path | None" = None
_headless_io_dirs: "dict[str, Path]" = {}


def use_models_dir(models_dir: "str | os.PathLike | None") -> None:
    """Outside ComfyUI: read model folders from `models_dir` (laid out as ComfyUI's `models/`)."""
    global _headless_models_dir
    _headless_models_dir = None if models_dir is None else Path(models_dir)


def use_io_dirs(
    input_dir: "str | os.PathLike | None", output_dir: "str | os.PathLike | None"
) -> None:
    """Outside ComfyUI: the folders standing for ComfyUI's `input/` and `output/`."""
    _headless_io_dirs.clear()
    if input_dir is not None:
        _headless_io_dirs.update(input=Path(input_dir), output=Path(output_dir))


def io_dir(kind: str) -> Path:
    """ComfyUI's `input` or `output` folder (or its stand-in set by `use_io_dirs`)."""
    folder_paths = _folder_paths()
    if folder_paths is not None:
        getter = {"input": "get_input_directory", "output": "get_output_directory"}[kind]
        return Path(getattr(folder_paths, getter)())
    if kind not in _headless_io_dirs:
        raise CheckpointError(f"no {kind} folder: outside ComfyUI call use_io_dirs first")
    return _headless_io_dirs[kind]


def resolve_input(name: str, what: str) -> Path:
    """`input/<name>` (a file or folder), refusing names that leave the input folder."""
    root = io_dir("input")
    path = _inside(root, name.strip().strip("/"))
    if path is None:
        raise CheckpointError(
            f"{what} {name!r}: refused; name a folder or file inside ComfyUI's input folder "
            "(e.g. my_clips or my_clips/train.csv), without '..' or absolute paths"
        )
    if not path.exists():
        raise CheckpointError(f"{what} {name!r} not found in {root}")
    return path


def _folder_paths():
    try:
        return import_module("folder_paths")
    except ImportError:
        return None


def register_opensora_folder() -> None:
    """Add `models/opensora` to ComfyUI's model folders (weights files only)."""
    folder_paths = _folder_paths()
    if folder_paths is None or "opensora" in folder_paths.folder_names_and_paths:
        return
    folder = os.path.join(folder_paths.models_dir, "opensora")
    folder_paths.folder_names_and_paths["opensora"] = (
        [folder],
        set(folder_paths.supported_pt_extensions),
    )


def role_roots(role: str) -> "list[Path]":
    """The directories searched for a model `role`, in order."""
    folder_paths = _folder_paths()
    roots: list[Path] = []
    for folder in ROLE_FOLDERS[role]:
        if folder_paths is not None:
            if folder == "opensora":
                register_opensora_folder()
            roots.extend(Path(path) for path in folder_paths.get_folder_paths(folder))
        elif _headless_models_dir is not None:
            roots.extend(_headless_models_dir / name for name in FOLDER_LAYOUT[folder])
    # The embedded demo model's own folder for the role, last: its transformer is not a VAE
    # choice although both live in one `opensora` folder of a models directory.
    primary = ROLE_FOLDERS[role][0]
    roots.extend(embedded.MODEL_DIR / name for name in FOLDER_LAYOUT[primary])
    return list(dict.fromkeys(roots))


def _entries(root: Path) -> "list[str]":
    """Weights files and model folders under `root`, relative, `/`-separated."""
    found, visited = [], set()
    for directory, subdirectories, files in os.walk(root, followlinks=True):
        here = Path(directory)
        # Links are followed (models often live elsewhere), each real folder once: a link
        # back to a parent would otherwise be walked until the path is too long.
        status = os.stat(here)
        identity = (status.st_dev, status.st_ino)
        if identity in visited:
            subdirectories.clear()
            continue
        visited.add(identity)
        relative = here.relative_to(root).as_posix()
        if here != root and any(marker in files for marker in FOLDER_MARKERS):
            found.append(relative + "/")
            subdirectories.clear()  # its shards are not separate choices
            continue
        subdirectories.sort()
        prefix = "" if relative == "." else relative + "/"
        found.extend(prefix + name for name in sorted(files) if name.endswith(WEIGHT_SUFFIXES))
    return found


def model_choices(role: str) -> "list[str]":
    """Every file or folder a loader for `role` can offer, sorted, without duplicates."""
    names = [name for root in role_roots(role) if root.is_dir() for name in _entries(root)]
    return sorted(dict.fromkeys(names))


def _inside(root: Path, name: str) -> "Path | None":
    """`root/name` if `name` is relative and stays inside `root` (no `..`, no absolute path)."""
    if not name or os.path.isabs(name) or "\\" in name or ":" in name:
        return None
    candidate = Path(os.path.normpath(root / name))
    root = Path(os.path.normpath(root))
    if candidate == root or root not in candidate.parents:
        return None
    return candidate


def _folders(role: str) -> str:
    return " or ".join(f"models/{FOLDER_LAYOUT[folder][0]}" for folder in ROLE_FOLDERS[role])


def missing_model(role: str, name: str) -> str:
    """Why model `name` is not offered, and which file to download into which folder."""
    demo = EMBEDDED_CHOICES.get(role)
    installed = [choice for choice in model_choices(role) if choice != demo]
    if installed:
        shown = ", ".join(installed[:8]) + (", ..." if len(installed) > 8 else "")
        found = f"{_folders(role)} hold {shown}"
    else:
        found = f"nothing is installed in {_folders(role)}"
        if demo:
            found += f"; only the pack's demo model {demo}, which the demo_* workflows use"
    advice = download_advice(role, name, _folders(role))
    return f"{name!r} is not installed ({found}); the pack downloads nothing. {advice}"


def resolve_model(role: str, name: str) -> Path:
    """The path of model `name` for `role`; refuses names that leave the model folders."""
    roots = role_roots(role)
    where = _folders(role)
    if not roots:
        raise CheckpointError(f"{role}: no model folders are configured ({where})")
    inside = [path for path in (_inside(root, name) for root in roots) if path is not None]
    if not inside:
        raise CheckpointError(
            f"{role} {name!r}: refused; a model is named relative to {where}, without '..', "
            "drive letters or absolute paths"
        )
    for path in inside:
        if path.exists():
            return path
    searched = ", ".join(str(root) for root in roots)
    raise CheckpointError(f"{role}: {missing_model(role, name)} Searched {searched}.")
