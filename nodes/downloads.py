"""What a loader says when its model file is not installed: which file, from where, into
which folder (the pack never downloads anything itself).

The names are those of the bundled workflows and the README's download table; any other
name gets the same folders and the release a first-time user most likely wants.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    """One released weights file or Hugging Face folder, as a loader lists it once installed."""

    listed_as: str  # "name/" for a folder
    what: str
    repo: str
    folder: str  # under ComfyUI/models/
    size: str
    file: "str | None" = None  # one file of the repo; None = the whole repo as a folder
    include: str = ""  # `--include` patterns, for repos that hold several formats

    @property
    def command(self) -> str:
        """The `hf download` line that puts it where the loader looks."""
        if self.file is not None:
            return f"hf download {self.repo} {self.file} --local-dir ComfyUI/models/{self.folder}"
        include = f" --include {self.include}" if self.include else ""
        target = f"ComfyUI/models/{self.folder}/{self.listed_as.rstrip('/')}"
        return f"hf download {self.repo}{include} --local-dir {target}"


RELEASES = {
    "transformer": (
        Release(
            "OpenSora-STDiT-v3/",
            "the Open-Sora 1.2 transformer",
            "hpcai-tech/OpenSora-STDiT-v3",
            "opensora",
            "4.8 GB",
        ),
        Release(
            "OpenSora-STDiT-v2-stage3/",
            "the Open-Sora 1.1 transformer",
            "hpcai-tech/OpenSora-STDiT-v2-stage3",
            "opensora",
            "3.1 GB",
        ),
        Release(
            "OpenSora-v1-HQ-16x512x512.pth",
            "the Open-Sora 1.0 transformer",
            "hpcai-tech/Open-Sora",
            "opensora",
            "3.0 GB",
            file="OpenSora-v1-HQ-16x512x512.pth",
        ),
    ),
    "vae": (
        Release(
            "OpenSora-VAE-v1.2/",
            "the Open-Sora 1.2 VAE",
            "hpcai-tech/OpenSora-VAE-v1.2",
            "vae",
            "1.6 GB",
        ),
        Release(
            "sd-vae-ft-ema/",
            "the SD VAE of Open-Sora 1.0 and 1.1",
            "stabilityai/sd-vae-ft-ema",
            "vae",
            "0.3 GB",
        ),
    ),
    "text_encoder": (
        Release(
            "t5xxl_fp16.safetensors",
            "ComfyUI's fp16 T5-XXL text encoder",
            "comfyanonymous/flux_text_encoders",
            "text_encoders",
            "9.8 GB",
            file="t5xxl_fp16.safetensors",
        ),
        Release(
            "t5xxl_fp8_e4m3fn.safetensors",
            "ComfyUI's fp8 T5-XXL text encoder",
            "comfyanonymous/flux_text_encoders",
            "text_encoders",
            "4.9 GB",
            file="t5xxl_fp8_e4m3fn.safetensors",
        ),
        Release(
            "t5-v1_1-xxl/",
            "DeepFloyd's T5-v1.1-XXL",
            "DeepFloyd/t5-v1_1-xxl",
            "text_encoders",
            "18 GB",
            include='"*.json" "*.model" "*.safetensors"',
        ),
    ),
}


def download_advice(role: str, name: str, folders: str) -> str:
    """Which file to fetch for model `name` of `role`, with the command, in one message.

    `folders` are where the loader looks, as the user sees them (e.g. "models/vae")."""
    releases = RELEASES.get(role, ())
    refresh = "then press R in ComfyUI to refresh the model lists"
    known = next((release for release in releases if release.listed_as == name), None)
    if known is not None:
        return (
            f"It is {known.what} ({known.size}) from huggingface.co/{known.repo}: download it "
            f"with `{known.command}` (pip install huggingface_hub), {refresh}."
        )
    advice = f"Put the weights file, or the Hugging Face folder with its config.json, in {folders}"
    if releases:
        first = releases[0]
        advice += f" (for {first.what}, {first.size}: `{first.command}`)"
    return f"{advice}, {refresh}."
