"""Months, split periods and which months of a group are closed by an invoice.

A period is ``[start, end)`` made of whole calendar months: that is the unit an invoice closes,
so a late change can always be booked into "the next open month" without ambiguity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from aequatio.domain.errors import ErrorCode, InvalidInput

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
MAX_PERIOD_MONTHS = 12
#: A period may end right after the last valid date (so December 2099 can be split).
PERIOD_END_LIMIT = date(2100, 1, 1)


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month; ordered, hashable, and convertible to its first day."""

    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, first_day: date) -> Month:
        """The month starting on ``first_day`` (which must be a 1st)."""
        if first_day.day != 1:
            raise ValueError(f"{first_day} is not the first day of a month")
        return cls(first_day.year, first_day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def require_date(day: date, *, field: str) -> date:
    """Dates outside 2000..2099 are typos, not expenses."""
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise InvalidInput(
            ErrorCode.DATE_OUT_OF_RANGE,
            f"dates must lie between {EARLIEST_DATE} and {LATEST_DATE}",
            field=field,
        )
    return day


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` of one or more whole calendar months."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date, end: date, *, field: str = "period") -> Period:
        """Validate a requested period: month-aligned, non-empty, at most a year."""
        require_date(start, field=f"{field}.start")
        if end != PERIOD_END_LIMIT:
            require_date(end, field=f"{field}.end")
        if start.day != 1 or end.day != 1:
            raise InvalidInput(
                ErrorCode.PERIOD_INVALID,
                "a period starts and ends on the first day of a month",
                field=field,
            )
        if end <= start:
            raise InvalidInput(
                ErrorCode.PERIOD_INVALID, "a period must end after it starts", field=field
            )
        period = cls(start, end)
        if len(period.months()) > MAX_PERIOD_MONTHS:
            raise InvalidInput(
                ErrorCode.PERIOD_INVALID,
                f"a period spans at most {MAX_PERIOD_MONTHS} months",
                field=field,
            )
        return period

    @classmethod
    def month(cls, month: Month) -> Period:
        return cls(month.first_day, month.next().first_day)

    def months(self) -> tuple[Month, ...]:
        out: list[Month] = []
        current, last = Month.parse(self.start), Month.parse(self.end)
        while current < last:
            out.append(current)
            current = current.next()
        return tuple(out)

    def contains(self, month: Month) -> bool:
        return self.start <= month.first_day < self.end


@dataclass(frozen=True, slots=True)
class PeriodCalendar:
    """The closed months of one group and the revision of every month's ledger.

    A month's revision grows with every change booked into it; a split remembers the
    revisions it saw, so an invoice is never issued from a split that missed a change.
    """

    closed: frozenset[Month] = frozenset()
    revisions: dict[Month, int] = field(default_factory=dict)
    #: The first month this calendar knows (``None``: all of them). A command that asks only
    #: about months from some month on loads just those: its cost does not grow with the
    #: group's history. Asking about an earlier month is a bug, and says so.
    since: Month | None = None
    #: False when only the closed months were loaded (all a new expense needs to know).
    knows_revisions: bool = True

    def is_closed(self, month: Month) -> bool:
        self._require_known(month)
        return month in self.closed

    def first_open_from(self, month: Month) -> Month:
        """``month`` itself if open, else the first open month after it."""
        self._require_known(month)
        while month in self.closed:
            month = month.next()
        return month

    def revision(self, month: Month) -> int:
        self._require_known(month)
        if not self.knows_revisions:
            raise ValueError("this calendar was loaded without the months' revisions")
        return self.revisions.get(month, 0)

    def _require_known(self, month: Month) -> None:
        if self.since is not None and month < self.since:
            raise ValueError(f"this calendar starts at {self.since}; {month} was not loaded")

    def revisions_of(self, months: Iterable[Month]) -> dict[Month, int]:
        return {month: self.revision(month) for month in months}
