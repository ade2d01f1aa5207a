"""The published event schemas (``schemas/``) and the code may not drift apart.

Fixtures under ``fixtures/<event_type>/v<N>.json`` are real payloads as aequatio wrote them;
they must stay readable by the current code (through upcasters once versions move on).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest

from aequatio.events.base import EventPayload
from aequatio.events.catalog import EVENTS
from aequatio.events.compatibility import compare
from aequatio.events.registry import EventRegistry
from aequatio.events.schemas import check, event_schema, export
from aequatio.persistence.database import REPOSITORY_ROOT

SCHEMAS = REPOSITORY_ROOT / "schemas"
FIXTURES = Path(__file__).parent / "fixtures"


def test_the_published_schemas_match_the_code() -> None:
    report = check(EVENTS, SCHEMAS)
    assert report.ok, "\n".join(report.lines())


def test_every_seed_event_is_published_at_version_one() -> None:
    published = {path.parent.name for path in (SCHEMAS / "events").glob("*/v1.json")}
    assert {
        "expense.created",
        "expense.amended",
        "group.created",
        "split.requested",
        "split.completed",
        "invoice.created",
    } <= published


@pytest.mark.parametrize(
    ("event_type", "seed_fields"),
    [
        (
            "expense.created",
            {"expense_id", "group_id", "amount_cents", "currency", "created_by", "description"},
        ),
        ("expense.amended", {"expense_id", "changes", "amended_by", "amended_at"}),
        ("group.created", {"group_id", "name", "owner_id", "members"}),
        ("split.requested", {"group_id", "period_start", "period_end", "requested_by"}),
        ("split.completed", {"group_id", "period_start", "period_end", "per_user_amounts"}),
        (
            "invoice.created",
            {"invoice_id", "group_id", "period_start", "period_end", "lines", "total"},
        ),
    ],
)
def test_seed_events_keep_the_seed_fields_as_their_required_fields(
    event_type: str, seed_fields: set[str]
) -> None:
    schema = json.loads((SCHEMAS / "events" / event_type / "v1.json").read_text())
    assert set(schema["required"]) == seed_fields


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*/v*.json")), ids=lambda p: p.parent.name)
def test_stored_payloads_of_every_version_still_decode(fixture: Path) -> None:
    version = int(fixture.stem.removeprefix("v"))
    payload = EVENTS.decode(fixture.parent.name, version, json.loads(fixture.read_text()))
    assert payload.event_type == fixture.parent.name


def test_every_event_type_has_a_stored_fixture() -> None:
    assert {model.event_type for model in EVENTS.models()} == {
        path.parent.name for path in FIXTURES.glob("*/v1.json")
    }


class _Published(EventPayload):
    event_type: ClassVar[str] = "thing.happened"
    event_version: ClassVar[int] = 1
    context: ClassVar[str] = "test"

    thing_id: str
    amount_cents: int


class _AddsOptional(_Published):
    note: str | None = None


class _AddsRequired(_Published):
    note: str


class _ChangesType(EventPayload):
    event_type: ClassVar[str] = "thing.happened"
    event_version: ClassVar[int] = 1
    context: ClassVar[str] = "test"

    thing_id: str
    amount_cents: str


class _RemovesField(EventPayload):
    event_type: ClassVar[str] = "thing.happened"
    event_version: ClassVar[int] = 1
    context: ClassVar[str] = "test"

    thing_id: str


def schema_of(model: type[EventPayload]) -> dict[str, Any]:
    return event_schema(model)


def test_a_new_optional_field_is_an_additive_change() -> None:
    comparison = compare(schema_of(_Published), schema_of(_AddsOptional))
    assert (comparison.breaking, comparison.additive) == ([], ["$.note: added (optional)"])


@pytest.mark.parametrize(
    ("changed", "problem"),
    [
        (_AddsRequired, "$.note: added as required"),
        (_ChangesType, "$.amount_cents: 'type' changed from 'integer' to 'string'"),
        (_RemovesField, "$.amount_cents: removed"),
    ],
)
def test_incompatible_changes_within_a_version_are_breaking(
    changed: type[EventPayload], problem: str
) -> None:
    assert problem in compare(schema_of(_Published), schema_of(changed)).breaking


def test_a_nested_fragment_losing_a_field_is_breaking() -> None:
    published = json.loads((SCHEMAS / "events" / "expense.created" / "v1.json").read_text())
    tampered = json.loads(json.dumps(published))
    del tampered["$defs"]["MemberAmount"]["properties"]["amount_cents"]
    assert "$.payers.anyOf[0][].amount_cents: removed" in compare(published, tampered).breaking


def test_export_refuses_to_overwrite_a_version_incompatibly(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    target = tmp_path / "schemas" / "events" / "thing.happened" / "v1.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(schema_of(_Published)))
    changed = EventRegistry([*EVENTS.models(), _ChangesType])

    report = export(changed, tmp_path / "schemas")

    assert report.breaking
    assert json.loads(target.read_text()) == schema_of(_Published)


def test_check_reports_an_additive_change_as_drift(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    target = tmp_path / "schemas" / "events" / "thing.happened" / "v1.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(schema_of(_Published)))

    report = check(EventRegistry([*EVENTS.models(), _AddsOptional]), tmp_path / "schemas")

    assert (report.breaking, len(report.drifted)) == ([], 1)


def test_a_published_version_missing_from_the_code_is_reported(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "schemas")
    (tmp_path / "schemas" / "events" / "expense.created" / "v0.json").write_text("{}")
    assert check(EVENTS, tmp_path / "schemas").orphaned == ["events/expense.created/v0.json"]
