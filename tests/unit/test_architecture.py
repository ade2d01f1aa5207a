"""The domain stays pure: it imports the standard library, its own modules and the event
contracts, never persistence, transports, the API or the application layer."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "aequatio"
ALLOWED = {
    "domain": {"aequatio.domain", "aequatio.events", "pydantic", "iso4217"},
    "events": {"aequatio.events", "pydantic"},
    # uuid_utils: UUIDv7 ids (``application/ids.py``), what the standard library lacks before 3.14.
    "application": {"aequatio.application", "aequatio.domain", "aequatio.events", "uuid_utils"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def is_allowed(module: str, allowed: set[str]) -> bool:
    root = module.split(".", maxsplit=1)[0]
    if root in sys.stdlib_module_names or root == "__future__":
        return True
    return any(module == prefix or module.startswith(prefix + ".") for prefix in allowed)


@pytest.mark.parametrize(
    "source",
    [path for layer in ALLOWED for path in sorted((PACKAGE / layer).rglob("*.py"))],
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_layers_import_only_what_they_may(source: Path) -> None:
    layer = source.relative_to(PACKAGE).parts[0]
    forbidden = sorted(m for m in imported_modules(source) if not is_allowed(m, ALLOWED[layer]))
    assert forbidden == []
