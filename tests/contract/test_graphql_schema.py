"""The published SDL (``schemas/graphql/schema.graphql``) and the code may not drift apart, and a
breaking change needs a deliberate entry in ``accepted-breaking-changes.txt``."""

from __future__ import annotations

import shutil
from pathlib import Path

from aequatio.graphql import sdl
from aequatio.graphql.schema import build_schema
from aequatio.persistence.database import REPOSITORY_ROOT

SCHEMAS = REPOSITORY_ROOT / "schemas"


def test_the_published_sdl_matches_the_code() -> None:
    report = sdl.check(build_schema(), SCHEMAS)
    assert report.ok, "\n".join(report.lines())


def published_copy(tmp_path: Path, edit: tuple[str, str]) -> Path:
    """A copy of the published schemas whose SDL differs from the code by ``edit``."""
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, root)
    path = root / sdl.SDL_PATH
    old, new = edit
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return root


def test_a_field_the_code_dropped_is_breaking_and_not_exported(tmp_path: Path) -> None:
    # Published with an extra field: the code "removed" it.
    root = published_copy(
        tmp_path,
        ("type Group implements Node {\n", "type Group implements Node {\n  legacy: String\n"),
    )
    before = (root / sdl.SDL_PATH).read_text()

    report = sdl.export(build_schema(), root)

    assert report.breaking == [
        "graphql/schema.graphql: FIELD_REMOVED: Field Group.legacy was removed."
    ]
    assert (root / sdl.SDL_PATH).read_text() == before


def test_an_accepted_breaking_change_is_exported(tmp_path: Path) -> None:
    root = published_copy(
        tmp_path,
        ("type Group implements Node {\n", "type Group implements Node {\n  legacy: String\n"),
    )
    (root / sdl.ACCEPTED_PATH).write_text(
        "# reviewed\nFIELD_REMOVED: Field Group.legacy was removed.\n"
    )

    assert sdl.export(build_schema(), root).ok
    assert sdl.check(build_schema(), root).ok


def test_an_added_field_is_compatible_drift(tmp_path: Path) -> None:
    # Published without `memberCount`: the code added it.
    root = published_copy(tmp_path, ("  memberCount: Int!\n", ""))
    report = sdl.check(build_schema(), root)
    assert (report.breaking, len(report.drifted)) == ([], 1)
