"""DataLoaders, created per request: one SQL statement per batch of ids, whatever the page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Row
from strawberry.dataloader import DataLoader

from aequatio.graphql.read_store import ReadStore

Loader = DataLoader[UUID, Row[Any] | None]
ManyLoader = DataLoader[UUID, list[Row[Any]]]


def _one_each(fetch: Callable[[Sequence[UUID]], Awaitable[list[Row[Any]]]], key: str) -> Loader:
    async def load(ids: list[UUID]) -> list[Row[Any] | None]:
        rows = {getattr(row, key): row for row in await fetch(ids)}
        return [rows.get(identifier) for identifier in ids]

    return DataLoader(load_fn=load)


def _many_each(
    fetch: Callable[[Sequence[UUID]], Awaitable[list[Row[Any]]]], key: str
) -> ManyLoader:
    async def load(ids: list[UUID]) -> list[list[Row[Any]]]:
        grouped: dict[UUID, list[Row[Any]]] = defaultdict(list)
        for row in await fetch(ids):
            grouped[getattr(row, key)].append(row)
        return [grouped.get(identifier, []) for identifier in ids]

    return DataLoader(load_fn=load)


@dataclass(frozen=True)
class Loaders:
    users: Loader
    groups: Loader
    members: ManyLoader
    totals: ManyLoader
    expenses: Loader
    splits: Loader
    invoices: Loader
    activity: Loader

    @classmethod
    def create(cls, store: ReadStore) -> Loaders:
        return cls(
            users=_one_each(store.users_by_id, "user_id"),
            groups=_one_each(store.groups_by_id, "group_id"),
            members=_many_each(store.members_of, "group_id"),
            totals=_many_each(store.totals_of, "group_id"),
            expenses=_one_each(store.expenses_by_id, "expense_id"),
            splits=_one_each(store.splits_by_id, "split_id"),
            invoices=_one_each(store.invoices_by_id, "invoice_id"),
            activity=_one_each(store.activity_by_id, "event_id"),
        )
