"""The package installs what ComfyUI users need, and never a top-level `nodes` or torch pin."""

import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

from golden import PROJECT_ROOT

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _names(requirements: list[str]) -> dict[str, str]:
    return {re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0].lower(): line for line in requirements}


def _requirements_txt() -> list[str]:
    lines = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_requirements_txt_matches_pyproject_without_torch():
    runtime = _names(PYPROJECT["project"]["dependencies"])
    listed = _names(_requirements_txt())
    assert "torch" in runtime and runtime["torch"] == "torch>=2.6"
    runtime.pop("torch")
    assert listed == runtime


def test_never_depends_on_torchvision_timm_or_accelerator_only_packages():
    forbidden = {
        "torchvision",
        "torchaudio",
        "timm",
        "xformers",
        "apex",
        "colossalai",
        "flash-attn",
    }
    assert not forbidden & set(_names(PYPROJECT["project"]["dependencies"]))
    assert not forbidden & set(_names(_requirements_txt()))


def test_triton_is_an_exactly_pinned_extra_that_the_tests_install():
    """Optional (a plain install falls back to PyTorch), pinned to torch 2.13.0's own, and
    installed with the test extra so that CI checks the kernels under the interpreter."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert re.fullmatch(r"triton==\d+\.\d+\.\d+; sys_platform == 'linux'", extras["triton"][0])
    assert len(extras["triton"]) == 1
    assert "comfyui-opensora[triton]" in extras["test"]
    assert "triton" not in _names(PYPROJECT["project"]["dependencies"])


def test_only_sora_core_is_installed_as_a_package():
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["sora_core*"]


def test_comfy_registry_fields_present():
    comfy = PYPROJECT["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert comfy["requires-comfyui"].startswith(">=")


def test_console_scripts_point_at_existing_functions():
    import importlib

    for target in PYPROJECT["project"]["scripts"].values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function))


def test_sora_core_imports_no_comfyui_module():
    code = (
        "import sys, pkgutil, importlib, sora_core\n"
        "for info in pkgutil.walk_packages(sora_core.__path__, 'sora_core.'):\n"
        "    try:\n"
        "        importlib.import_module(info.name)\n"
        "    except ModuleNotFoundError as missing:  # only kernels of an optional extra\n"
        "        if missing.name != 'triton':\n"
        "            raise\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('comfy', 'comfy_api', 'folder_paths', 'nodes')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_ci_runs_the_test_command_written_in_readme():
    readme = (PROJECT_ROOT / "README.md").read_text()
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    test_command = commands[1].strip().splitlines()[-1]
    pytest_part = test_command[test_command.index("python -m pytest") :]
    assert pytest_part in ci


def test_license_is_apache_2():
    assert "Apache License" in Path(PROJECT_ROOT / "LICENSE").read_text()[:200]


# What ComfyUI loads from a registry or Manager install; everything else stays out of the zip.
PACK_CONTENTS = {
    "__init__.py",
    "nodes",
    "sora_core",
    "locales",
    "workflows",
    "configs",
    "requirements.txt",
    "pyproject.toml",
    "README.md",
    "LICENSE",
}


def _comfyignore() -> "set[str]":
    lines = (PROJECT_ROOT / ".comfyignore").read_text().splitlines()
    return {line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")}


def _top_level_names() -> "set[str]":
    """What `comfy node pack` starts from: git's tracked files, else (an unpacked copy) the
    folder's entries minus what .gitignore names."""
    listed = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return {path.split("/")[0] for path in listed.stdout.split()}
    lines = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    patterns = [line.strip().strip("/") for line in lines if line.strip()[:1] not in ("", "#", "!")]
    return {
        entry.name
        for entry in PROJECT_ROOT.iterdir()
        if entry.name != ".git" and not any(fnmatch(entry.name, p) for p in patterns)
    }


def test_comfy_node_pack_ships_the_pack_and_leaves_out_development_files():
    ignored = _comfyignore()
    # Plain top-level names only, so this reading matches comfy-cli's gitwildmatch one.
    assert all("/" not in name and "*" not in name for name in ignored)
    assert _top_level_names() - ignored == PACK_CONTENTS
    assert {"tests", "benchmarks", "tools", ".ci"} <= ignored


def test_a_wheel_ships_every_file_of_the_embedded_demo_model():
    """A non-editable `pip install` keeps only the package data declared in pyproject.toml."""
    from sora_core.demo.embedded import MODEL_DIR, PROVENANCE, shipped_files

    package = MODEL_DIR.parent  # sora_core/demo; setuptools expands the globs as Path.glob
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["sora_core.demo"]
    declared = {path for glob in globs for path in package.glob(glob)}
    for path in [*shipped_files(), PROVENANCE]:
        assert path in declared, path.relative_to(package)
