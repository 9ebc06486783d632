"""The pack folder imports the way ComfyUI imports it, and does nothing outside ComfyUI."""

import os
import subprocess
import sys
import textwrap

from golden import PROJECT_ROOT


def _import_pack_code(extra: str = "") -> str:
    # ComfyUI's loader: spec_from_file_location on <pack>/__init__.py under a path-derived name.
    return textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location(
            "custom_nodes_x_opensora", r"{PROJECT_ROOT / "__init__.py"}",
            submodule_search_locations=[r"{PROJECT_ROOT}"])
        pack = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = pack
        spec.loader.exec_module(pack)
        """
    ) + textwrap.dedent(extra)


def test_pack_imports_outside_comfyui_and_defines_no_entrypoint():
    code = _import_pack_code(
        """
        assert not hasattr(pack, "comfy_entrypoint")
        assert not hasattr(pack, "NODE_CLASS_MAPPINGS")
        assert "nodes" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT.parent)


def test_nodes_package_is_not_installed_top_level(tmp_path):
    # Outside the checkout (no test sys.path), only the installed packages are visible.
    code = "import importlib.util, sora_core; print(importlib.util.find_spec('nodes'))"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    found = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(PROJECT_ROOT / "nodes") not in found
