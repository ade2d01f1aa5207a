"""``read.users``: one row per registration, found by id or token subject."""

from __future__ import annotations

from aequatio.bootstrap import Application
from aequatio.events.catalog import EVENTS
from aequatio.projections.tables import users
from aequatio.projections.user_directory import UserDirectory
from tests.support.family import register
from tests.support.history import project_everything, rows


async def test_registered_users_are_listed_with_their_subject_and_email(
    application: Application,
) -> None:
    ann = await register(application.bus, "Ann")
    ben = await register(application.bus, "Ben")

    events = await project_everything(application.engine)

    async with application.engine.connect() as connection:
        listed = await rows(connection, users)
    assert {row["user_id"]: (row["name"], row["subject"], row["email"]) for row in listed} == {
        ann.user_id: ("Ann", ann.principal.subject, f"{ann.principal.subject}@example.org"),
        ben.user_id: ("Ben", ben.principal.subject, f"{ben.principal.subject}@example.org"),
    }
    registered = {e.envelope.aggregate_id: e.envelope.occurred_at for e in events}
    assert all(row["registered_at"] == registered[row["user_id"]] for row in listed)


def test_the_directory_listens_to_registrations_only() -> None:
    assert UserDirectory().event_types(EVENTS) == ["user.registered"]
