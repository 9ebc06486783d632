"""Reading Open-Sora's config files without executing them.

Open-Sora's configs are mmengine-style Python files. Running a file from a workflow or a
download would run its code, so `.py` configs are evaluated by a small interpreter that
knows only what those files use: literals, `dict(...)`, lists and tuples, arithmetic,
names assigned earlier in the file, and `_base_` inheritance. JSON and YAML work as well.
"""

import ast
import json
import operator
import os
from pathlib import Path

from ..errors import ConfigError

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_CONSTRUCTORS = {"dict": dict, "list": list, "tuple": tuple}
_BASE_KEY = "_base_"
_DELETE_KEY = "_delete_"


class _Evaluator:
    """Evaluates the expressions of one config file against the names it has assigned."""

    def __init__(self, path: Path, names: dict):
        self.path = path
        self.names = names

    def reject(self, node: ast.AST, what: str) -> ConfigError:
        return ConfigError(
            f"{self.path}:{getattr(node, 'lineno', '?')}: {what} is not allowed in a config file "
            "(only literals, dict(...), lists, tuples, arithmetic and names assigned earlier)"
        )

    def value(self, node: ast.AST):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.value(element) for element in node.elts]
            return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
        if isinstance(node, ast.Dict):
            result = {}
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:  # {**other}
                    result.update(self.value(value))
                else:
                    result[self.value(key)] = self.value(value)
            return result
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise ConfigError(
                    f"{self.path}:{node.lineno}: name {node.id!r} is used before it is assigned"
                )
            return self.names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.value(node.left), self.value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.value(node.operand))
        if isinstance(node, ast.Subscript):
            return self.value(node.value)[self.value(node.slice)]
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.reject(node, type(node).__name__)

    def call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _CONSTRUCTORS:
            raise self.reject(node, f"calling {ast.unparse(node.func)!r}")
        args = [self.value(arg) for arg in node.args]
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:  # dict(**other)
                kwargs.update(self.value(keyword.value))
            else:
                kwargs[keyword.arg] = self.value(keyword.value)
        return _CONSTRUCTORS[node.func.id](*args, **kwargs)


def _read_python_config(path: Path) -> dict:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as error:
        raise ConfigError(f"{path}:{error.lineno}: not valid Python syntax: {error.msg}") from error
    names = {"True": True, "False": False, "None": None}
    evaluator = _Evaluator(path, names)
    config: dict = {}
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # docstrings and stray string literals
        if isinstance(statement, ast.Assign) and all(
            isinstance(t, ast.Name) for t in statement.targets
        ):
            value = evaluator.value(statement.value)
            for target in statement.targets:
                names[target.id] = config[target.id] = value
            continue
        raise evaluator.reject(statement, type(statement).__name__)
    return config


def _read_data_config(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from error
    else:
        import yaml  # only YAML configs need it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config must be a mapping at the top level, got {type(data).__name__}"
        )
    return data


def merge_configs(base: dict, override: dict) -> dict:
    """mmengine's inheritance: dicts merge key by key unless the override sets `_delete_=True`."""
    merged = dict(base)
    for key, value in override.items():
        if (
            isinstance(value, dict)
            and isinstance(merged.get(key), dict)
            and not value.get(_DELETE_KEY)
        ):
            merged[key] = merge_configs(merged[key], value)
        elif isinstance(value, dict):
            merged[key] = {k: v for k, v in value.items() if k != _DELETE_KEY}
        else:
            merged[key] = value
    return merged


def load_config(path: "str | os.PathLike", _seen: "tuple[Path, ...]" = ()) -> dict:
    """Read an Open-Sora config (`.py`, `.json`, `.yaml`/`.yml`), resolving `_base_` files."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if path in _seen:
        raise ConfigError(f"{path}: `_base_` inheritance loops back to this file")
    if path.suffix == ".py":
        config = _read_python_config(path)
    elif path.suffix in (".json", ".yaml", ".yml"):
        config = _read_data_config(path)
    else:
        raise ConfigError(
            f"{path}: unknown config format {path.suffix!r}; expected .py, .json, .yaml or .yml"
        )
    bases = config.pop(_BASE_KEY, [])
    merged: dict = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = merge_configs(merged, load_config(path.parent / base, (*_seen, path)))
    return merge_configs(merged, config)
