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
import warnings
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
# Bounds on what a config may build: far above any real Open-Sora config, far below what
# would hang or exhaust memory (`10 ** 10 ** 10`, `'a' * 10 ** 9`, 100,000 nested brackets).
MAX_CONFIG_BYTES = 1 << 20
MAX_INT_BITS = 256
MAX_LENGTH = 100_000  # characters of a string, items of a list, tuple, set or dict
MAX_DEPTH = 64  # nested expressions
MAX_CONFIG_FILES = 64  # files in one `_base_` tree
# The expression nodes `_Evaluator.value` understands; anything else is refused before
# any arithmetic runs.
_ALLOWED_NODES = (
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.BinOp,
    ast.UnaryOp,
    ast.Subscript,
    ast.Call,
    ast.keyword,
    *_BINARY,
    *_UNARY,
)


class _Evaluator:
    """Evaluates the expressions of one config file against the names it has assigned."""

    def __init__(self, path: Path, names: dict):
        self.path = path
        self.names = names
        self.depth = 0

    def reject(self, node: ast.AST, what: str) -> ConfigError:
        return ConfigError(
            f"{self.path}:{getattr(node, 'lineno', '?')}: {what} is not allowed in a config file "
            "(only literals, dict(...), lists, tuples, arithmetic and names assigned earlier)"
        )

    def too_big(self, node: ast.AST, what: str) -> ConfigError:
        return ConfigError(
            f"{self.path}:{getattr(node, 'lineno', '?')}: {what} is too big for a config file "
            f"(integers up to {MAX_INT_BITS} bits, strings and containers up to "
            f"{MAX_LENGTH} items, {MAX_DEPTH} levels of nesting)"
        )

    def value(self, node: ast.AST):
        """The value of an expression, every intermediate result kept within the bounds."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.too_big(node, "an expression nested this deep")
            result = self._value(node)
        finally:
            self.depth -= 1
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise self.too_big(node, f"an integer of {result.bit_length()} bits")
        if isinstance(result, (str, bytes, list, tuple, set, dict)) and len(result) > MAX_LENGTH:
            raise self.too_big(node, f"a {type(result).__name__} of {len(result)} items")
        return result

    def _value(self, node: ast.AST):
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
            left, right = self.value(node.left), self.value(node.right)
            self.check_operands(node, left, right)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.value(node.operand))
        if isinstance(node, ast.Subscript):
            return self.value(node.value)[self.value(node.slice)]
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.reject(node, type(node).__name__)

    def check_operands(self, node: ast.BinOp, left, right) -> None:
        """Refuse, before computing it, a power or repetition whose result would be too big."""
        if isinstance(node.op, ast.Mod) and isinstance(left, (str, bytes)):
            raise self.reject(node, "%-formatting")  # '%999999999d' builds a huge string
        if isinstance(node.op, ast.Pow) and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right * (abs(left).bit_length() - 1) > MAX_INT_BITS:
                raise self.too_big(node, f"{left} ** {right}")
        if isinstance(node.op, ast.Mult):
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, bytes, list, tuple)) and isinstance(count, int):
                    if len(sequence) * count > MAX_LENGTH:
                        raise self.too_big(node, f"a sequence repeated {count} times")

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


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: {path.stat().st_size} bytes; a config file is at most {MAX_CONFIG_BYTES}"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error})") from None


def _checked_statements(path: Path, tree: ast.Module, evaluator: _Evaluator) -> "list[ast.Assign]":
    """The file's assignments, after checking every node of every statement is allowed."""
    assignments = []
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # docstrings and stray string literals
        if not isinstance(statement, ast.Assign) or not all(
            isinstance(t, ast.Name) for t in statement.targets
        ):
            raise evaluator.reject(statement, type(statement).__name__)
        for node in ast.walk(statement.value):  # parents first: a call is named as a call
            if isinstance(node, ast.Call) and not (
                isinstance(node.func, ast.Name) and node.func.id in _CONSTRUCTORS
            ):
                raise evaluator.reject(node, f"calling {ast.unparse(node.func)!r}")
            if not isinstance(node, _ALLOWED_NODES):
                raise evaluator.reject(node, type(node).__name__)
        assignments.append(statement)
    return assignments


def _read_python_config(path: Path) -> dict:
    try:
        with warnings.catch_warnings():  # invalid escapes in a user's file: not our warning
            warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
            tree = ast.parse(_read_text(path), filename=str(path))
    except SyntaxError as error:
        raise ConfigError(f"{path}:{error.lineno}: not valid Python syntax: {error.msg}") from None
    except (MemoryError, RecursionError):  # the parser's own stack, on absurd nesting
        raise ConfigError(f"{path}: nested too deeply to parse") from None
    names = {"True": True, "False": False, "None": None}
    evaluator = _Evaluator(path, names)
    config: dict = {}
    for statement in _checked_statements(path, tree, evaluator):
        try:
            value = evaluator.value(statement.value)
        except ConfigError:
            raise
        except (ArithmeticError, TypeError, ValueError, LookupError) as error:
            raise ConfigError(
                f"{path}:{statement.lineno}: {ast.unparse(statement)[:200]}: "
                f"{type(error).__name__}: {error}"
            ) from None
        for target in statement.targets:
            names[target.id] = config[target.id] = value
    return config


def _read_data_config(path: Path) -> dict:
    text = _read_text(path)
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
        except (ValueError, RecursionError) as error:  # 4,300+ digit numbers, deep nesting
            raise ConfigError(f"{path}: not a usable JSON config: {error}") from None
    else:
        import yaml  # only YAML configs need it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        except (ValueError, RecursionError) as error:
            raise ConfigError(f"{path}: not a usable YAML config: {error}") from None
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


def load_config(path: "str | os.PathLike") -> dict:
    """Read an Open-Sora config (`.py`, `.json`, `.yaml`/`.yml`), resolving `_base_` files."""
    return _load_config(Path(path), (), {})


def _base_names(path: Path, bases) -> "list[str]":
    if isinstance(bases, str):
        return [bases]
    if isinstance(bases, (list, tuple)) and all(isinstance(base, str) for base in bases):
        return list(bases)
    raise ConfigError(
        f"{path}: _base_ = {bases!r:.100} must be a file name or a list of file names"
    )


def _load_config(path: Path, seen: "tuple[Path, ...]", loaded: "dict[Path, dict]") -> dict:
    """`load_config`, reading each file of the `_base_` tree once (`loaded`)."""
    path = path.expanduser().resolve()
    if path in seen:
        raise ConfigError(f"{path}: `_base_` inheritance loops back to this file")
    if path in loaded:
        return loaded[path]
    if len(loaded) + len(seen) >= MAX_CONFIG_FILES:
        raise ConfigError(f"{path}: `_base_` files reach more than {MAX_CONFIG_FILES} files")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if path.suffix == ".py":
        config = _read_python_config(path)
    elif path.suffix in (".json", ".yaml", ".yml"):
        config = _read_data_config(path)
    else:
        raise ConfigError(
            f"{path}: unknown config format {path.suffix!r}; expected .py, .json, .yaml or .yml"
        )
    merged: dict = {}
    for base in _base_names(path, config.pop(_BASE_KEY, [])):
        merged = merge_configs(merged, _load_config(path.parent / base, (*seen, path), loaded))
    loaded[path] = merge_configs(merged, config)
    return loaded[path]


def reject_unknown_keys(config: dict, known: "frozenset | set", source: str, kind: str) -> None:
    """Raise a `ConfigError` naming every top-level key outside `known`, before anything loads."""
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown {kind} setting(s) {unknown}; known settings: {sorted(known)}"
        )
