"""Run a workflow in a real ComfyUI with our models partially loaded, and compare its
outputs with the fully loaded run.

On a CPU-only machine ComfyUI loads every model whole; `tools/comfy_memory_limit` (loaded
as an extra pack) makes its `load_models_gpu` treat the CPU as a device under `--novram`
(or `--lowvram` with a given free memory), so ComfyUI's own `ModelPatcher.load` leaves our
cast-on-use layers in offload memory. Each workflow variant (the given API workflow with
SaveLatent and SaveImage added: fp32; fp32 with transformer block swap 1; fp8 transformer
and VAE; optionally fp32 decoded by a random full-size SD VAE) runs in a resident ComfyUI
server and in one server per memory limit, through the e2e driver; the saved latents and
frames are compared and ComfyUI's load figures printed.

    python tools/comfy_lowvram_check.py --comfy /work/comfy/ComfyUI \\
        --e2e /work/shared/tools/comfy/comfy_e2e.py --limit novram lowvram:300 --big-vae
"""

import argparse
import copy
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's sora_core
LIMIT_PACK = ROOT / "tools" / "comfy_memory_limit"


def variants(workflow: dict, big_vae: "str | None" = None) -> "dict[str, dict]":
    """Workflow variants with their sampler latent and decoded frames saved losslessly;
    `big_vae` (a VAE file name) adds one decoding with it."""
    ids = {node["class_type"]: key for key, node in workflow.items()}
    sampler, decode = ids["OpenSoraSampler"], ids["OpenSoraVAEDecode"]
    transformer, vae = ids["OpenSoraTransformerLoader"], ids["OpenSoraVAELoader"]
    made = {}
    for name, changes in {
        "fp32": {transformer: {"dtype": "fp32"}, vae: {"dtype": "fp32"}},
        "fp32_block_swap_1": {transformer: {"dtype": "fp32", "block_swap": 1}, vae: {"dtype": "fp32"}},
        "fp8": {transformer: {"dtype": "fp8"}, vae: {"dtype": "fp8"}},
        **({"fp32_sd_vae": {transformer: {"dtype": "fp32"},
                            vae: {"dtype": "fp32", "vae_name": big_vae}}} if big_vae else {}),
    }.items():  # fmt: skip
        graph = copy.deepcopy(workflow)
        for node, inputs in changes.items():
            graph[node]["inputs"].update(inputs)
        prefix = f"lowvram_check/{name}"
        graph["9001"] = {
            "class_type": "SaveLatent",
            "inputs": {"samples": [sampler, 0], "filename_prefix": prefix},
        }
        graph["9002"] = {"class_type": "SaveImage",
                         "inputs": {"images": [decode, 0], "filename_prefix": prefix}}  # fmt: skip
        made[name] = graph
    return made


def write_big_vae(models: Path) -> str:
    """A random full-size SD VAE (sd-vae-ft-ema's architecture, 83.7 M parameters, seeded)
    in `models/vae`, large enough for ComfyUI's `--lowvram` to load only part of it."""
    from safetensors.torch import save_file

    from sora_core.vae.spatial import SD_VAE_FT_EMA_CONFIG, autoencoder_from_config

    torch.manual_seed(0)
    (models / "vae").mkdir(parents=True, exist_ok=True)
    name = "opensora_check_sd_vae.safetensors"
    save_file(
        autoencoder_from_config(SD_VAE_FT_EMA_CONFIG).state_dict(), str(models / "vae" / name)
    )
    return name


def run_server(args, label: str, workflows: "dict[str, Path]", work: Path, limit: "str | None"):
    """Run every workflow in one ComfyUI; returns ({variant: (latent, frames)}, load report)."""
    report, loads = work / f"{label}.json", work / f"{label}_loads.jsonl"
    command = [
        sys.executable if args.driver_python is None else args.driver_python, args.e2e,
        "--comfy", args.comfy, "--pack", str(ROOT), "--pack-name", "comfyui-opensora",
        "--extra-pack", str(LIMIT_PACK), "--disable-api-nodes", "--keep-tmp",
        "--json-report", str(report), "--env", f"OPENSORA_LOAD_REPORT={loads}",
    ]  # fmt: skip
    if limit:
        command += ["--env", f"OPENSORA_VRAM_LIMIT={limit}"]
    if args.big_vae:
        command += ["--models-dir", str(work / "models")]
    for path in workflows.values():
        command += ["--workflow", str(path)]
    print(f"[{label}] {' '.join(command)}", flush=True)
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        print(completed.stdout[-4000:], completed.stderr[-2000:])
        raise SystemExit(f"[{label}] the e2e driver failed (exit {completed.returncode})")
    results = json.loads(report.read_text())["workflows"]
    outputs = {}
    for name, result in zip(workflows, results):
        files = result["files"]
        latent = next(f["path"] for f in files if f["filename"].endswith(".latent"))
        pngs = sorted(f["path"] for f in files if f["filename"].endswith(".png"))
        frames = np.stack([np.asarray(Image.open(p)) for p in pngs])
        outputs[name] = (load_file(latent)["latent_tensor"], frames)
    if results and results[0]["files"]:  # the driver's kept base folder, outputs read
        shutil.rmtree(results[0]["files"][0]["path"].split("/output/")[0], ignore_errors=True)
    entries = (
        [json.loads(line) for line in loads.read_text().splitlines()] if loads.exists() else []
    )
    return outputs, entries


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfy", required=True, help="ComfyUI checkout")
    parser.add_argument("--e2e", required=True, help="path of comfy_e2e.py (the shared driver)")
    parser.add_argument("--workflow", default=str(ROOT / "workflows/api/demo_text_to_video.json"))
    parser.add_argument(
        "--limit", nargs="+", default=["novram"], help="'novram' and/or 'lowvram:MB' runs"
    )
    parser.add_argument(
        "--big-vae", action="store_true",
        help="also decode with a random full-size SD VAE (written to the work folder, 335 MB)",
    )  # fmt: skip
    parser.add_argument("--driver-python", default=None, help="interpreter for the e2e driver")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="lowvram_check_"))
    big_vae = write_big_vae(work / "models") if args.big_vae else None
    graphs = variants(json.loads(Path(args.workflow).read_text()), big_vae)
    paths = {}
    for name, graph in graphs.items():
        paths[name] = work / f"{name}.json"
        paths[name].write_text(json.dumps(graph))
    runs = {"resident": run_server(args, "resident", paths, work, None)}
    for limit in args.limit:
        runs[limit] = run_server(args, limit.replace(":", "_"), paths, work, limit)

    for label, (_, entries) in runs.items():
        print(f"\nComfyUI ModelPatcher.load, {label} server:")
        print("| model | budget MB | size MB | loaded MB | offloaded MB | cast-on-use layers |")
        print("|---|---|---|---|---|---|")
        for e in entries:
            budget = "whole" if e["budget_mb"] > 1e20 else f"{e['budget_mb']:g}"
            print(f"| {e['model']} | {budget} | {e['size_mb']:g} | {e['loaded_mb']:g} "
                  f"| {e['offloaded_mb']:g} | {e['cast_on_use_layers']} of {e['layers']} |")  # fmt: skip
    # Each limited run against the resident run of the same variant; block swap (a partial
    # load in every server) against the plain fp32 run.
    rows = [(name, limit, name) for limit in args.limit for name in graphs]
    rows.insert(0, ("fp32_block_swap_1", "resident", "fp32"))
    print(
        "\n| variant | run | reference | latent max abs diff | frames max abs diff (0-255) | equal |"
    )
    print("|---|---|---|---|---|---|")
    same = True
    for name, label, reference in rows:
        latent, frames = runs[label][0][name]
        ref_latent, ref_frames = runs["resident"][0][reference]
        latent_diff = (latent - ref_latent).abs().max().item()
        frame_diff = int(np.abs(frames.astype(int) - ref_frames.astype(int)).max())
        equal = torch.equal(latent, ref_latent) and frame_diff == 0
        same = same and equal
        print(f"| {name} | {label} | resident {reference} | {latent_diff:.3g} | {frame_diff} "
              f"| {equal} |")  # fmt: skip
    shutil.rmtree(work / "models", ignore_errors=True)  # the random SD VAE (320 MB)
    print(f"\nreports in {work}; {'PASS' if same else 'FAIL'}: outputs equal the resident run")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
