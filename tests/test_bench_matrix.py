"""The benchmark matrix in its `--quick` (toy sizes) mode: every section prints a table with
every row, the JSON holds the same, and the accelerated end-to-end modes that must not
change the video do not. No timings are checked."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_matrix.py"
SECTIONS = ("transformer step", "VAE decode", "T5 memory", "end to end")


@pytest.fixture(scope="module")
def quick_matrix(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("matrix") / "matrix.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--json", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"table": done.stdout, **json.loads(out.read_text())}


def table_rows(table: str, section: str) -> "list[list[str]]":
    """The cells of each data row of `section`'s markdown table."""
    lines = table[table.index(f"**{section}**") :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_every_section_prints_every_row(quick_matrix):
    table = quick_matrix["table"]
    assert table.startswith("Machine: ")
    shapes = [row[0] for row in table_rows(table, "transformer step")]
    assert shapes == ["240p", "480p", "720p"]
    tilings = [row[1] for row in table_rows(table, "VAE decode")]
    assert tilings == ["untiled", "exact tiles of 2 cells"]
    modes = [row[0] for row in table_rows(table, "T5 memory")]
    assert modes == ["fp32", "fp8 weights, bf16 compute"]
    modes = [row[0] for row in table_rows(table, "end to end")]
    assert modes == ["resident", "lowvram", "block swap", "fp8", "step cache"]


def test_the_json_holds_the_table(quick_matrix):
    results = quick_matrix["results"]
    assert list(results) == list(SECTIONS)
    for section in SECTIONS:
        assert len(results[section]) == len(table_rows(quick_matrix["table"], section))
    assert quick_matrix["plan"]["device"] == "cpu"
    # fp8 stores a quarter of fp32's linear-weight bytes
    fp32, fp8 = results["T5 memory"]
    assert fp8["weights_mib"] < fp32["weights_mib"] / 1.9


def test_streaming_modes_leave_the_video_unchanged(quick_matrix):
    rows = {row["mode"]: row for row in quick_matrix["results"]["end to end"]}
    for mode in ("lowvram", "block swap"):
        assert rows[mode]["max_abs_diff"] == 0.0
    assert rows["fp8"]["max_abs_diff"] > 0.0  # fp8 weights do change it


@pytest.fixture
def benchmarks_path():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    yield
    sys.path.remove(str(ROOT / "benchmarks"))


def test_the_flop_count_matches_the_spec_at_full_depth(benchmarks_path):
    from bench_stdit import PRESETS, forward_flops

    # ../shared/research/opensora_models.md §8: TFLOP per sample, 51 frames, 300 tokens
    spec = {"240p": 13.5, "480p": 56.5, "720p": 141.8}
    for preset, tflop in spec.items():
        count = forward_flops(1, PRESETS[preset], 1152, 28, 300) / 1e12
        assert count == pytest.approx(tflop, abs=0.05)


def test_a_gpu_gets_full_sizes_and_a_cpu_reduced_depth(benchmarks_path):
    import torch
    from bench_matrix import plan_for
    from bench_stdit import PRESETS

    gpu, cpu = plan_for(torch.device("cuda"), False), plan_for(torch.device("cpu"), False)
    assert (gpu.depth, gpu.hidden, gpu.heads, gpu.batch, gpu.dtype) == (28, 1152, 16, 2, "bf16")
    assert gpu.latents == PRESETS == cpu.latents  # same shapes, 51 frames
    assert gpu.t5["num_layers"] == 24 and "bf16, cast on use" in gpu.t5_modes
    assert all("--size release" in " ".join(argv) for argv in gpu.vae.values())
    assert (cpu.depth, cpu.hidden) == (1, 1152)
