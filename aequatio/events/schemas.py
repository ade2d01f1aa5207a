"""The published event contracts: one JSON Schema file per event type and version.

``export`` writes ``schemas/events/<event_type>/v<N>.json`` (and the envelope's schema);
``check`` compares the code with what is published and reports drift and breaking changes.
Files are generated, never edited by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aequatio.events.base import EventPayload
from aequatio.events.compatibility import compare
from aequatio.events.envelope import ENVELOPE_SCHEMA_ID, Envelope
from aequatio.events.registry import EventRegistry

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(model: type[EventPayload]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": model.schema_id(),
        "x-event-type": model.event_type,
        "x-event-version": model.event_version,
        "x-routing-key": model.routing_key(),
        **schema,
    }


def envelope_schema() -> dict[str, Any]:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": ENVELOPE_SCHEMA_ID,
        **Envelope.model_json_schema(mode="validation"),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files(registry: EventRegistry) -> dict[Path, dict[str, Any]]:
    """Relative path -> schema for everything that must be published."""
    files = {Path("envelope") / "v1.json": envelope_schema()}
    for model in registry.models():
        files[Path("events") / model.event_type / f"v{model.event_version}.json"] = event_schema(
            model
        )
    return files


@dataclass
class Report:
    """What ``check`` found; ``breaking`` problems block an export as well."""

    missing: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    breaking: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.drifted or self.breaking or self.orphaned)

    def lines(self) -> list[str]:
        return (
            [f"missing (run `aequatio schema export`): {item}" for item in self.missing]
            + [f"drift (additive; run `aequatio schema export`): {item}" for item in self.drifted]
            + [
                f"BREAKING (publish a new version with an upcaster): {item}"
                for item in self.breaking
            ]
            + [
                f"published version no longer in code (keep old models): {item}"
                for item in self.orphaned
            ]
        )


def check(registry: EventRegistry, root: Path) -> Report:
    report = Report()
    expected = expected_files(registry)
    for relative, schema in expected.items():
        path = root / relative
        if not path.exists():
            report.missing.append(str(relative))
            continue
        published = json.loads(path.read_text())
        if published == json.loads(render(schema)):
            continue
        comparison = compare(published, schema)
        if comparison.breaking:
            report.breaking.extend(f"{relative}: {problem}" for problem in comparison.breaking)
        else:
            report.drifted.append(f"{relative}: {', '.join(comparison.additive) or 'annotations'}")
    for path in sorted(root.glob("**/v*.json")):
        if path.relative_to(root) not in expected:
            report.orphaned.append(str(path.relative_to(root)))
    return report


def export(registry: EventRegistry, root: Path) -> Report:
    """Write every schema unless a published one would change incompatibly (then write none)."""
    report = check(registry, root)
    if report.breaking or report.orphaned:
        return report
    for relative, schema in expected_files(registry).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema))
    return Report()
