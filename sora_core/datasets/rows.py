"""The training table: Open-Sora's CSV of clips and images, one row per sample.

Columns as the reference reads them: `path` (a video or image file), `text` (the caption,
optional), `num_frames`, `height`, `width` (needed for bucketing), and informational
`aspect_ratio`, `fps`, `resolution`; other columns are kept and ignored. A row whose values
cannot be used is not an error for the whole table: it carries the reason it is skipped, so
the sampler leaves it out on every rank alike and the run reports it.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError

SIZE_COLUMNS = ("num_frames", "height", "width")


@dataclass(frozen=True)
class SampleRow:
    """One table row: its position (`index`, the reference's `id`) and parsed values."""

    index: int
    path: str
    text: "str | None"
    num_frames: "int | None"
    height: "int | None"
    width: "int | None"
    problem: "str | None" = None

    def describe(self) -> str:
        return f"row {self.index} ({self.path or 'no path'})"


def read_rows(data_path: "str | Path", require_sizes: bool = True) -> "list[SampleRow]":
    """Every row of a `.csv` table (or `.parquet` when pyarrow is installed).

    Missing required columns fail here, naming the file and the columns it has; bad values
    in a row only mark that row (`problem`).
    """
    path = Path(data_path)
    if not path.is_file():
        raise DatasetError(f"data_path {str(path)!r} does not exist")
    records, columns = _read_table(path)
    required = ("path", *SIZE_COLUMNS) if require_sizes else ("path",)
    missing = [column for column in required if column not in columns]
    if missing:
        raise DatasetError(
            f"data_path {str(path)!r} lacks the column(s) {missing}; it has {columns} "
            f"(Open-Sora's tables have path, text, num_frames, height, width, aspect_ratio, fps)"
        )
    has_text = "text" in columns
    return [
        _parse_row(index, record, has_text, require_sizes) for index, record in enumerate(records)
    ]


def _read_table(path: Path) -> "tuple[list[dict], list[str]]":
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            records = list(reader)
            return records, list(reader.fieldnames or [])
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as parquet
        except ImportError:
            raise DatasetError(
                f"data_path {str(path)!r} is a parquet table, which needs pyarrow "
                f"(pip install pyarrow); or convert it to .csv"
            ) from None
        table = parquet.read_table(path)
        return table.to_pylist(), list(table.column_names)
    raise DatasetError(f"data_path {str(path)!r}: only .csv and .parquet tables are read")


def _parse_row(index: int, record: dict, has_text: bool, require_sizes: bool) -> SampleRow:
    problems = []
    path = str(record.get("path") or "").strip()
    if not path:
        problems.append("the path is empty")
    sizes = {}
    for column in SIZE_COLUMNS:
        value = record.get(column)
        if value is None or value == "":
            sizes[column] = None
            if require_sizes:
                problems.append(f"{column} is empty")
            continue
        sizes[column] = _positive_int(value)
        if sizes[column] is None:
            problems.append(f"{column}={value!r} is not a positive integer")
    text = record.get("text") if has_text else None
    return SampleRow(
        index=index,
        path=path,
        text=None if text is None else str(text),
        problem="; ".join(problems) or None,
        **sizes,
    )


def _positive_int(value: object) -> "int | None":
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number != int(number) or number < 1:
        return None
    return int(number)
