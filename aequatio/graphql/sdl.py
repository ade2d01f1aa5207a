"""The published GraphQL contract: ``schemas/graphql/schema.graphql``.

``export`` writes the SDL of the code's schema; ``check`` fails when they differ. A change that
graphql-core's ``find_breaking_changes`` calls breaking is refused by both unless its
description is listed in ``accepted-breaking-changes.txt`` beside the SDL — a deliberate,
reviewed decision rather than an accident.
"""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql import find_breaking_changes
from strawberry import Schema

from aequatio.events.schemas import Report

SDL_PATH = Path("graphql") / "schema.graphql"
ACCEPTED_PATH = Path("graphql") / "accepted-breaking-changes.txt"


def sdl(schema: Schema) -> str:
    return schema.as_str().rstrip() + "\n"


def _accepted(root: Path) -> set[str]:
    path = root / ACCEPTED_PATH
    if not path.exists():
        return set()
    return {
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def check(schema: Schema, root: Path) -> Report:
    report = Report()
    published_path = root / SDL_PATH
    if not published_path.exists():
        report.missing.append(str(SDL_PATH))
        return report
    published, current = published_path.read_text(), sdl(schema)
    if published == current:
        return report
    changes = find_breaking_changes(parse_sdl(published), parse_sdl(current))
    accepted = _accepted(root)
    breaking = [
        f"{change.type.name}: {change.description}"
        for change in changes
        if f"{change.type.name}: {change.description}" not in accepted
    ]
    if breaking:
        report.breaking.extend(f"{SDL_PATH}: {problem}" for problem in breaking)
    else:
        report.drifted.append(f"{SDL_PATH}: the schema changed compatibly")
    return report


def export(schema: Schema, root: Path) -> Report:
    """Write the SDL unless the change breaks clients without being accepted."""
    report = check(schema, root)
    if report.breaking:
        return report
    path = root / SDL_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sdl(schema))
    return Report()
