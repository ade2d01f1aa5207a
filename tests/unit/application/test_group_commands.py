"""CreateGroup, AddMember and RemoveMember: who belongs to a family, since when, and who decides."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from aequatio.application.commands import AddMember, CreateGroup, RemoveMember
from aequatio.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from aequatio.domain.group import Role
from tests.unit.fakes import SYSTEM, Harness

SINCE = date(2025, 1, 1)


async def test_creating_a_group_makes_the_creator_its_owner() -> None:
    h = Harness()
    alice = await h.register("Alice")

    result = await h.run(
        CreateGroup(name=" Family ", currency="CHF", started_on=date(2024, 6, 1)), alice
    )

    assert (result.aggregate_type, result.aggregate_version) == ("group", 1)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version) == ("group.created", 1)
    assert event.payload == {
        "group_id": str(result.aggregate_id),
        "name": "Family",
        "owner_id": str(alice.user_id),
        "members": [
            {"user_id": str(alice.user_id), "role": "owner", "weight": 1, "joined_on": "2024-06-01"}
        ],
        "currency": "CHF",
    }
    group = h.db.groups[result.aggregate_id]
    assert group.owner_id == alice.user_id
    assert group.active_membership(alice.user_id) is not None


async def test_the_owner_is_a_member_from_today_by_default() -> None:
    h = Harness()
    alice = await h.register("Alice")

    result = await h.run(CreateGroup(name="Family", currency="EUR"), alice)

    assert h.payload(result)["members"][0]["joined_on"] == h.clock.now.date().isoformat()


async def test_a_group_needs_a_known_currency_and_a_name() -> None:
    h = Harness()
    alice = await h.register("Alice")

    for currency in ("ABC", "eur", "", "XAU"):
        await h.rejects(
            CreateGroup(name="Family", currency=currency),
            alice,
            ErrorCode.UNKNOWN_CURRENCY,
            field="currency",
        )
    await h.rejects(
        CreateGroup(name=" ", currency="EUR"), alice, ErrorCode.TEXT_EMPTY, field="name"
    )
    await h.rejects(
        CreateGroup(name="F" * 101, currency="EUR"), alice, ErrorCode.TEXT_TOO_LONG, field="name"
    )
    await h.rejects(
        CreateGroup(name="Family", currency="EUR", started_on=date(1999, 12, 31)),
        alice,
        ErrorCode.DATE_OUT_OF_RANGE,
        field="started_on",
    )


async def test_an_owner_adds_a_member_with_role_weight_and_start() -> None:
    h = Harness()
    group_id, (alice,) = await h.family("Alice")
    bob = await h.register("Bob")

    result = await h.run(
        AddMember(group_id=group_id, user_id=bob.user_id, role="admin", weight=3, joined_on=SINCE),
        alice,
    )

    assert (result.aggregate_id, result.aggregate_version) == (group_id, 2)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version) == ("group.member_added", 2)
    assert event.payload == {
        "group_id": str(group_id),
        "user_id": str(bob.user_id),
        "role": "admin",
        "weight": 3,
        "joined_on": "2025-01-01",
        "added_by": str(alice.user_id),
    }
    membership = h.db.groups[group_id].active_membership(bob.user_id)
    assert membership is not None
    assert (membership.role, membership.weight, membership.joined_on) == (Role.ADMIN, 3, SINCE)


async def test_a_new_member_joins_today_as_a_plain_member_by_default() -> None:
    h = Harness()
    group_id, (alice,) = await h.family("Alice")
    bob = await h.register("Bob")

    result = await h.run(AddMember(group_id=group_id, user_id=bob.user_id), alice)

    payload = h.payload(result)
    assert (payload["role"], payload["weight"], payload["joined_on"]) == (
        "member",
        1,
        h.clock.now.date().isoformat(),
    )


async def test_adding_someone_who_is_not_registered_is_refused() -> None:
    h = Harness()
    group_id, (alice,) = await h.family("Alice")

    error = await h.rejects(
        AddMember(group_id=group_id, user_id=uuid4()),
        alice,
        ErrorCode.UNKNOWN_USER,
        field="user_id",
    )

    assert isinstance(error, NotFound)


async def test_a_member_is_added_only_once() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")

    error = await h.rejects(
        AddMember(group_id=group_id, user_id=bob.user_id),
        alice,
        ErrorCode.DUPLICATE_MEMBER,
        field="user_id",
    )

    assert isinstance(error, Conflict)


async def test_role_and_weight_are_checked() -> None:
    h = Harness()
    group_id, (alice,) = await h.family("Alice")
    bob = await h.register("Bob")

    await h.rejects(
        AddMember(group_id=group_id, user_id=bob.user_id, role="king"),
        alice,
        ErrorCode.ROLE_INVALID,
        field="role",
    )
    for weight in (0, -1, 1001):
        await h.rejects(
            AddMember(group_id=group_id, user_id=bob.user_id, weight=weight),
            alice,
            ErrorCode.WEIGHT_INVALID,
            field="weight",
        )


async def test_only_members_act_on_a_group() -> None:
    h = Harness()
    group_id, _ = await h.family("Alice")
    mallory = await h.register("Mallory")
    bob = await h.register("Bob")

    error = await h.rejects(
        AddMember(group_id=group_id, user_id=bob.user_id), mallory, ErrorCode.NOT_A_MEMBER
    )

    assert isinstance(error, Forbidden)


async def test_a_plain_member_does_not_manage_members() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    carol = await h.register("Carol")

    added = await h.rejects(
        AddMember(group_id=group_id, user_id=carol.user_id), bob, ErrorCode.FORBIDDEN
    )
    removed = await h.rejects(
        RemoveMember(group_id=group_id, user_id=alice.user_id), bob, ErrorCode.FORBIDDEN
    )

    assert isinstance(added, Forbidden)
    assert isinstance(removed, Forbidden)


async def test_an_admin_manages_members_but_cannot_make_owners() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    carol, dave = await h.register("Carol"), await h.register("Dave")
    await h.run(
        AddMember(group_id=group_id, user_id=carol.user_id, role="admin", joined_on=SINCE), alice
    )

    error = await h.rejects(
        AddMember(group_id=group_id, user_id=dave.user_id, role="owner"),
        carol,
        ErrorCode.FORBIDDEN,
    )
    await h.run(AddMember(group_id=group_id, user_id=dave.user_id), carol)
    await h.run(RemoveMember(group_id=group_id, user_id=bob.user_id), carol)

    assert isinstance(error, Forbidden)
    group = h.db.groups[group_id]
    assert group.active_membership(dave.user_id) is not None
    assert group.active_membership(bob.user_id) is None


async def test_an_owner_may_add_another_owner() -> None:
    h = Harness()
    group_id, (alice,) = await h.family("Alice")
    bob = await h.register("Bob")

    result = await h.run(AddMember(group_id=group_id, user_id=bob.user_id, role="owner"), alice)

    assert h.payload(result)["role"] == "owner"


async def test_an_owner_removes_a_member_from_a_day_on() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")

    result = await h.run(
        RemoveMember(group_id=group_id, user_id=bob.user_id, left_on=date(2025, 2, 15)), alice
    )

    assert result.aggregate_version == 3
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version) == ("group.member_removed", 3)
    assert event.payload == {
        "group_id": str(group_id),
        "user_id": str(bob.user_id),
        "left_on": "2025-02-15",
        "removed_by": str(alice.user_id),
    }
    group = h.db.groups[group_id]
    assert group.is_member_on(bob.user_id, date(2025, 2, 14))
    assert not group.is_member_on(bob.user_id, date(2025, 2, 15))


async def test_a_member_may_leave_by_themselves_today() -> None:
    h = Harness()
    group_id, (_, bob) = await h.family("Alice", "Bob")

    result = await h.run(RemoveMember(group_id=group_id, user_id=bob.user_id), bob)

    payload = h.payload(result)
    assert payload["removed_by"] == payload["user_id"] == str(bob.user_id)
    assert payload["left_on"] == h.clock.now.date().isoformat()


async def test_the_last_owner_cannot_leave() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")

    error = await h.rejects(
        RemoveMember(group_id=group_id, user_id=alice.user_id),
        alice,
        ErrorCode.LAST_OWNER,
        field="user_id",
    )

    assert isinstance(error, Conflict)


async def test_one_of_two_owners_may_leave_but_an_admin_may_not_remove_an_owner() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    carol = await h.register("Carol")
    await h.run(AddMember(group_id=group_id, user_id=carol.user_id, role="owner"), alice)
    await h.run(RemoveMember(group_id=group_id, user_id=bob.user_id), alice)
    await h.run(AddMember(group_id=group_id, user_id=bob.user_id, role="admin"), alice)

    await h.rejects(
        RemoveMember(group_id=group_id, user_id=carol.user_id), bob, ErrorCode.FORBIDDEN
    )
    await h.run(RemoveMember(group_id=group_id, user_id=alice.user_id), alice)

    group = h.db.groups[group_id]
    assert group.active_membership(alice.user_id) is None
    await h.rejects(
        RemoveMember(group_id=group_id, user_id=carol.user_id),
        carol,
        ErrorCode.LAST_OWNER,
        field="user_id",
    )


async def test_removing_someone_who_is_not_a_member_is_refused() -> None:
    h = Harness()
    group_id, (alice,) = await h.family("Alice")
    bob = await h.register("Bob")

    error = await h.rejects(
        RemoveMember(group_id=group_id, user_id=bob.user_id),
        alice,
        ErrorCode.NOT_A_MEMBER,
        field="user_id",
    )

    assert isinstance(error, InvalidInput)


async def test_a_member_cannot_leave_before_joining() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob", since=date(2025, 2, 1))

    await h.rejects(
        RemoveMember(group_id=group_id, user_id=bob.user_id, left_on=date(2025, 1, 31)),
        alice,
        ErrorCode.DATE_OUT_OF_RANGE,
        field="left_on",
    )


async def test_a_member_cannot_leave_on_the_day_they_joined() -> None:
    """A membership covers at least one day, so a same-day rejoin never reuses its key."""
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob", since=date(2025, 2, 1))

    await h.rejects(
        RemoveMember(group_id=group_id, user_id=bob.user_id, left_on=date(2025, 2, 1)),
        alice,
        ErrorCode.DATE_OUT_OF_RANGE,
        field="left_on",
    )


async def test_a_former_member_rejoins_with_a_new_span_not_overlapping_the_old() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    await h.run(
        RemoveMember(group_id=group_id, user_id=bob.user_id, left_on=date(2025, 2, 1)), alice
    )

    await h.rejects(
        AddMember(group_id=group_id, user_id=bob.user_id, joined_on=date(2025, 1, 15)),
        alice,
        ErrorCode.DATE_OUT_OF_RANGE,
        field="joined_on",
    )
    await h.run(
        AddMember(group_id=group_id, user_id=bob.user_id, joined_on=date(2025, 3, 1)), alice
    )

    group = h.db.groups[group_id]
    assert group.is_member_on(bob.user_id, date(2025, 1, 20))
    assert not group.is_member_on(bob.user_id, date(2025, 2, 20))
    assert group.is_member_on(bob.user_id, date(2025, 3, 1))


async def test_a_removed_member_no_longer_acts_on_the_group() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    carol = await h.register("Carol")
    await h.run(RemoveMember(group_id=group_id, user_id=bob.user_id), bob)

    await h.rejects(
        AddMember(group_id=group_id, user_id=carol.user_id), bob, ErrorCode.NOT_A_MEMBER
    )
    assert h.db.groups[group_id].active_membership(alice.user_id) is not None


async def test_an_unknown_group_is_not_found() -> None:
    h = Harness()
    alice = await h.register("Alice")

    error = await h.rejects(
        AddMember(group_id=uuid4(), user_id=alice.user_id),
        alice,
        ErrorCode.GROUP_NOT_FOUND,
        field="group_id",
    )

    assert isinstance(error, NotFound)


async def test_a_system_process_does_not_manage_members() -> None:
    h = Harness()
    group_id, (alice,) = await h.family("Alice")

    await h.rejects(
        RemoveMember(group_id=group_id, user_id=alice.user_id), SYSTEM, ErrorCode.FORBIDDEN
    )


async def test_rights_are_checked_before_the_members_details() -> None:
    h = Harness()
    group_id, (_, bob) = await h.family("Alice", "Bob")
    mallory, carol = await h.register("Mallory"), await h.register("Carol")

    for actor, code in ((mallory, ErrorCode.NOT_A_MEMBER), (bob, ErrorCode.FORBIDDEN)):
        await h.rejects(AddMember(group_id=group_id, user_id=uuid4()), actor, code)
        await h.rejects(
            AddMember(group_id=group_id, user_id=carol.user_id, role="king"), actor, code
        )
        await h.rejects(AddMember(group_id=group_id, user_id=carol.user_id, weight=0), actor, code)
