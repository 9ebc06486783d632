"""Parametrising tests by the entries of one section of a pipeline fixture's JSON."""

import json

import pytest

from golden import fixtures_dir, read_json


def section_params(fixture: str, section: str, label: str = "") -> list:
    """One pytest param per entry of `fixture`'s `section` (dotted path) (its index; a missing file fails)."""
    path = fixtures_dir() / "pipeline" / f"{fixture}.json"
    if not path.is_file():
        return [pytest.param(-1, id=f"MISSING:{path}")]
    entries = _section(json.loads(path.read_text(encoding="utf-8")), section)
    return [
        pytest.param(index, id=f"{index}-{entry[label]}" if label else str(index))
        for index, entry in enumerate(entries)
    ]


def section_entry(fixture: str, section: str, index: int) -> dict:
    """Entry `index` of the section (fails the test when the fixture is missing)."""
    entries = _section(read_json(f"pipeline/{fixture}.json"), section)
    assert 0 <= index < len(entries), f"{fixture}.{section} has no entry {index}"
    return entries[index]


def _section(document: dict, section: str) -> list:
    # "append_generated.cases" names a list nested under a key.
    for key in section.split("."):
        document = document[key]
    return document
