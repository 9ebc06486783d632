"""Names of saved samples, as Open-Sora's inference script writes them."""

import os


def save_path_name(
    save_dir: str,
    sample_name: "str | None" = None,
    sample_index: "int | None" = None,
    prompt: "str | None" = None,
    prompt_as_path: bool = False,
    num_sample: int = 1,
    k: "int | None" = None,
) -> str:
    """`save_dir/sample_0003`, `save_dir/{name}_0012-1`, or the prompt itself as the name.

    No extension: `.png` or `.mp4` follows from the frame count when the sample is written.
    """
    if sample_name is None:
        sample_name = "" if prompt_as_path else "sample"
    suffix = prompt if prompt_as_path else f"_{sample_index:04d}"
    path = os.path.join(save_dir, f"{sample_name}{suffix}")
    return f"{path}-{k}" if num_sample != 1 else path
