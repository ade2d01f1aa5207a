"""Small helpers the read models share: upserts, JSON columns, and amended expense state.

Every statement goes through the ``Table`` objects of ``tables.py`` (never literal
``read.<table>`` SQL) so that a replay's ``schema_translate_map`` redirects it to the rebuild
schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

from aequatio.events.expenses import ExpenseAmended

#: The fields of ``expense.amended`` that describe the expense's resulting state.
EXPENSE_STATE_FIELDS = frozenset(
    {
        "group_id",
        "amount_cents",
        "currency",
        "description",
        "category",
        "incurred_on",
        "payers",
        "split",
        "shares",
        "postings",
    }
)

JsonValue = Any


def uuid_order(item: tuple[UUID, object]) -> int:
    """Sort key putting ``(uuid, ...)`` pairs in the uuids' (and PostgreSQL's) order without a
    Python ``UUID.__lt__`` per comparison: appliers lock rows in one order (no deadlock), and
    sorting a page's thousand ids by their ``__lt__`` was a quarter of a replay's tracking."""
    return item[0].int


def upsert(table: Table, values: Mapping[str, object], key: Sequence[str]) -> Insert:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` setting every non-key column of ``values``.

    The runner applies each event once, so this never conflicts in normal operation; if an
    event is applied again anyway (tracking rows cleared by hand, a partial restore), the row
    is overwritten with the same values instead of the consumer failing on a duplicate key.
    """
    statement = pg_insert(table).values(dict(values))
    updates = {name: statement.excluded[name] for name in values if name not in key}
    if not updates:
        return statement.on_conflict_do_nothing(index_elements=list(key))
    return statement.on_conflict_do_update(index_elements=list(key), set_=updates)


def upsert_many(table: Table, columns: Sequence[str], key: Sequence[str]) -> Insert:
    """``upsert`` built once for rows of ``columns``, to execute with a list of rows (one
    ``executemany``): what a batch of events writes, without building a statement per row."""
    statement = pg_insert(table)
    updates = {name: statement.excluded[name] for name in columns if name not in key}
    return statement.on_conflict_do_update(index_elements=list(key), set_=updates)


def json_list(models: Iterable[BaseModel] | None) -> list[JsonValue] | None:
    """Fragments as a JSON array for a JSONB column (``None`` stays ``None``)."""
    if models is None:
        return None
    return [model.model_dump(mode="json") for model in models]


def json_object(model: BaseModel | None) -> JsonValue:
    return None if model is None else model.model_dump(mode="json")


def amended_state(payload: ExpenseAmended) -> ExpenseAmended:
    """The amendment with every state field it determines filled in.

    aequatio writes the full resulting state after ``changes``; a producer of the v1 seed
    shape may write only ``changes``. Their ``after`` values then stand in for the missing
    fields. Which fields an amendment determines is ``model_fields_set`` of the result, so a
    ``category`` of ``None`` that was written (cleared) is told apart from one left out.
    """
    missing = {
        name: change.after
        for name, change in payload.changes.items()
        if name in EXPENSE_STATE_FIELDS and name not in payload.model_fields_set
    }
    if not missing:
        return payload
    return ExpenseAmended.model_validate(
        {**payload.model_dump(mode="json", exclude_unset=True), **missing}
    )


def determined(payload: ExpenseAmended, name: str) -> bool:
    """Whether the (filled-in) amendment says what ``name`` is now."""
    return name in payload.model_fields_set
