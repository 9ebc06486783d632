"""Reading a JSON file someone else wrote: bounded in size, every failure named with the file.

Model folders, training checkpoints, feature caches and workflows hold JSON that may be
damaged, binary, gigantic or nested thousands deep; `json.loads` would then raise a bare
ValueError, RecursionError or MemoryError far from the file that caused it.
"""

import json
import os
from pathlib import Path
from typing import Any

from .errors import SoraError

# The largest JSON any of those files needs: a T5 tokenizer.json is 2.4 MB, an index of
# thousands of shards or cached batches a few MB.
MAX_JSON_BYTES = 64 * 2**20


def read_json_file(
    path: "str | os.PathLike",
    what: str,
    error: "type[SoraError]",
    expect: "type | None" = dict,
    max_bytes: "int | None" = None,
) -> Any:
    """The JSON value in `path`; `error` names the file and `what` it should be.

    `expect` is the type the top-level value must have (None: any); `max_bytes` defaults to
    MAX_JSON_BYTES."""
    max_bytes = MAX_JSON_BYTES if max_bytes is None else max_bytes
    path = Path(path)
    where = f"{what} {str(path)!r}"
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(
                f"{where} has {size:,} bytes; a {what} has at most {max_bytes:,}: is it the right file?"
            )
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as problem:
        raise error(f"{where} cannot be read: {problem.strerror or problem}") from None
    except UnicodeDecodeError:
        raise error(f"{where} is not a valid JSON file: not UTF-8 text (binary?)") from None
    except ValueError as problem:  # JSONDecodeError, or an integer too long to convert
        raise error(f"{where} is not a valid JSON file: {problem}") from None
    except RecursionError:
        raise error(f"{where} is not a valid JSON file: nested too deeply") from None
    if expect is not None and not isinstance(data, expect):
        shape = "a JSON object {...}" if expect is dict else f"a JSON {expect.__name__}"
        raise error(f"{where} holds a JSON {type(data).__name__}; a {what} is {shape}")
    return data
