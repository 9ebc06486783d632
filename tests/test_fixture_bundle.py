"""The fixture set bundled under `tests/fixtures` is the team's reference set, byte for byte."""

import hashlib
from pathlib import Path

import pytest

from golden import BUNDLED_FIXTURES, SHARED_FIXTURES


def _digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_bundled_fixtures_hold_every_index():
    for index in (
        "stdit/index.json",
        "pipeline/MANIFEST.json",
        "checkpoints/index.json",
        "text/text_index.json",
        "zoo/index.json",
    ):
        assert (BUNDLED_FIXTURES / index).is_file(), f"tests/fixtures/{index} is missing"


@pytest.mark.skipif(not SHARED_FIXTURES.is_dir(), reason="no ../shared/fixtures beside this clone")
def test_bundled_fixtures_equal_shared_copy():
    bundled, shared = _digests(BUNDLED_FIXTURES), _digests(SHARED_FIXTURES)
    assert sorted(bundled) == sorted(shared), (
        f"only bundled: {sorted(set(bundled) - set(shared))[:10]}, "
        f"only shared: {sorted(set(shared) - set(bundled))[:10]}"
    )
    differing = [name for name in bundled if bundled[name] != shared[name]]
    assert not differing, f"bundled fixtures differ from ../shared/fixtures: {differing[:10]}"
