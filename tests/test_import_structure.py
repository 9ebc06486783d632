"""The import graph of `sora_core`: no cycles, and loading goes one way (`checkpoints` builds
models; the model families never import it, nor anything above them)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "sora_core"

# The model families and their building blocks: imported by the layers above, never importing them.
LOWER = ("models", "text", "vae", "samplers", "kernels")
UPPER = ("checkpoints", "pipeline", "cli", "conditioning", "comfy_client")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> "dict[str, Path]":
    return {_module_name(path): path for path in (ROOT / PACKAGE).rglob("*.py")}


def _imports(name: str, path: Path, known: "set[str]") -> "set[str]":
    """Every `sora_core` module `path` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from package import module` imports the module; `from module import name` the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        found.update(target for target in targets if target in known)
    found.discard(name)
    return found


def import_graph() -> "dict[str, set[str]]":
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def cycles(graph: "dict[str, set[str]]") -> "list[list[str]]":
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_checker_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reads_relative_and_lazy_imports():
    graph = import_graph()
    assert "sora_core.errors" in graph["sora_core.checkpoints.files"]  # `from ..errors import`
    assert "sora_core.checkpoints.text" in graph["sora_core.checkpoints.build"]  # inside a function


def test_sora_core_has_no_import_cycle():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("lower", LOWER)
def test_model_families_never_import_the_layers_that_load_them(lower):
    prefix = f"{PACKAGE}.{lower}"
    upward = {
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if name == prefix or name.startswith(prefix + ".")
        for target in targets
        if target.split(".")[1] in UPPER
    }
    assert not upward, sorted(upward)
