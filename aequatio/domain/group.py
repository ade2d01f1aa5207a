"""A group (a family): who belongs to it, since when, with which role and default weight."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from aequatio.domain.aggregate import Aggregate
from aequatio.domain.calendar import require_date
from aequatio.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput
from aequatio.domain.money import currency_of
from aequatio.domain.text import require_text
from aequatio.events.groups import GroupCreated, GroupMemberData, MemberAdded, MemberRemoved

MAX_NAME_LENGTH = 100
MAX_WEIGHT = 1000


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @classmethod
    def parse(cls, value: str, *, field: str = "role") -> Role:
        try:
            return cls(value)
        except ValueError:
            raise InvalidInput(
                ErrorCode.ROLE_INVALID, "role is one of owner, admin, member", field=field
            ) from None


@dataclass(frozen=True, slots=True)
class Membership:
    """One span of membership ``[joined_on, left_on)``; a member who rejoins gets a new span."""

    user_id: UUID
    role: Role
    weight: int
    joined_on: date
    left_on: date | None = None

    @property
    def is_active(self) -> bool:
        return self.left_on is None

    def covers(self, day: date) -> bool:
        return self.joined_on <= day and (self.left_on is None or day < self.left_on)


def require_weight(weight: int, *, field: str) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
        raise InvalidInput(
            ErrorCode.WEIGHT_INVALID, f"a default weight is between 1 and {MAX_WEIGHT}", field=field
        )
    return weight


@dataclass(kw_only=True)
class Group(Aggregate):
    aggregate_type: ClassVar[str] = "group"

    name: str
    currency: str
    owner_id: UUID
    created_at: datetime
    memberships: list[Membership] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        group_id: UUID,
        name: str,
        currency: str,
        owner_id: UUID,
        started_on: date,
        now: datetime,
    ) -> Group:
        """A new group whose creator is its first owner, a member from ``started_on``."""
        owner = Membership(
            user_id=owner_id,
            role=Role.OWNER,
            weight=1,
            joined_on=require_date(started_on, field="started_on"),
        )
        group = cls(
            id=group_id,
            name=require_text(name, field="name", max_length=MAX_NAME_LENGTH),
            currency=currency_of(currency).code,
            owner_id=owner_id,
            created_at=now,
            memberships=[owner],
        )
        group._record(
            GroupCreated(
                group_id=group.id,
                name=group.name,
                owner_id=owner_id,
                members=[
                    GroupMemberData(
                        user_id=owner_id, role=owner.role.value, weight=1, joined_on=started_on
                    )
                ],
                currency=group.currency,
            )
        )
        return group

    # -- queries -------------------------------------------------------------------------

    def active_membership(self, user_id: UUID) -> Membership | None:
        return next((m for m in self.memberships if m.user_id == user_id and m.is_active), None)

    def is_member_on(self, user_id: UUID, day: date) -> bool:
        return any(m.user_id == user_id and m.covers(day) for m in self.memberships)

    def members_on(self, day: date) -> list[Membership]:
        return [m for m in self.memberships if m.covers(day)]

    def require_active_member(self, actor_id: UUID) -> Membership:
        """The actor's membership; only current members act on a group."""
        membership = self.active_membership(actor_id)
        if membership is None:
            raise Forbidden(ErrorCode.NOT_A_MEMBER, "you are not a member of this group")
        return membership

    def require_manager(self, actor_id: UUID) -> Membership:
        """Owners and admins manage members and invoices."""
        membership = self.require_active_member(actor_id)
        if membership.role not in (Role.OWNER, Role.ADMIN):
            raise Forbidden(ErrorCode.FORBIDDEN, "only an owner or admin may do this")
        return membership

    def require_member_on(self, user_id: UUID, day: date, *, field: str) -> None:
        """Payers and participants must belong to the group on the expense's date."""
        if not self.is_member_on(user_id, day):
            raise InvalidInput(
                ErrorCode.NOT_A_MEMBER, f"this person is not a member on {day}", field=field
            )

    # -- commands ------------------------------------------------------------------------

    def add_member(
        self, *, actor_id: UUID, user_id: UUID, role: Role, weight: int, joined_on: date
    ) -> None:
        acting = self.require_manager(actor_id)
        if role is Role.OWNER and acting.role is not Role.OWNER:
            raise Forbidden(ErrorCode.FORBIDDEN, "only an owner may add another owner")
        require_weight(weight, field="weight")
        require_date(joined_on, field="joined_on")
        if self.active_membership(user_id) is not None:
            raise Conflict(
                ErrorCode.DUPLICATE_MEMBER, "this person is already a member", field="user_id"
            )
        if any(
            m.user_id == user_id and m.left_on and joined_on < m.left_on for m in self.memberships
        ):
            raise InvalidInput(
                ErrorCode.DATE_OUT_OF_RANGE,
                "a rejoining member joins on or after the day they left",
                field="joined_on",
            )
        self.memberships.append(
            Membership(user_id=user_id, role=role, weight=weight, joined_on=joined_on)
        )
        self._record(
            MemberAdded(
                group_id=self.id,
                user_id=user_id,
                role=role.value,
                weight=weight,
                joined_on=joined_on,
                added_by=actor_id,
            )
        )

    def remove_member(self, *, actor_id: UUID, user_id: UUID, left_on: date) -> None:
        """End a membership; members may leave by themselves, managers may remove others."""
        leaving_by_choice = actor_id == user_id
        acting = (
            self.require_active_member(actor_id)
            if leaving_by_choice
            else self.require_manager(actor_id)
        )
        target = self.active_membership(user_id)
        if target is None:
            raise InvalidInput(
                ErrorCode.NOT_A_MEMBER, "this person is not a member", field="user_id"
            )
        if target.role is Role.OWNER:
            if acting.role is not Role.OWNER:
                raise Forbidden(ErrorCode.FORBIDDEN, "only an owner may remove an owner")
            owners = [m for m in self.memberships if m.is_active and m.role is Role.OWNER]
            if len(owners) == 1:
                raise Conflict(
                    ErrorCode.LAST_OWNER,
                    "the last owner cannot leave; add another owner first",
                    field="user_id",
                )
        require_date(left_on, field="left_on")
        if left_on <= target.joined_on:
            # A membership covers [joined_on, left_on): it must cover at least one day (and a
            # rejoin on the day of leaving then starts a distinct span).
            raise InvalidInput(
                ErrorCode.DATE_OUT_OF_RANGE,
                "a member leaves at the earliest the day after joining",
                field="left_on",
            )
        self.memberships[self.memberships.index(target)] = replace(target, left_on=left_on)
        self._record(
            MemberRemoved(group_id=self.id, user_id=user_id, left_on=left_on, removed_by=actor_id)
        )
