"""The package's layout rules: small modules, as the code is read next to a textbook."""

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scratchnn"
MAX_LINES = 450
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_modules():
    assert len(MODULES) > 20


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_the_limit(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n} lines; split it (limit {MAX_LINES})"
