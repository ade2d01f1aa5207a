"""Months, month-aligned periods and the open/closed calendar of a group."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aequatio.domain.calendar import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_PERIOD_MONTHS,
    Month,
    Period,
    PeriodCalendar,
    require_date,
)
from aequatio.domain.errors import ErrorCode, InvalidInput

months = st.builds(Month, st.integers(min_value=2000, max_value=2098), st.integers(1, 12))
days = st.dates(min_value=EARLIEST_DATE, max_value=LATEST_DATE)


def months_between(first: Month, count: int) -> list[Month]:
    out = [first]
    while len(out) < count:
        out.append(out[-1].next())
    return out


# --- Month -------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(months)
def test_next_month_starts_the_day_after_the_month_ends(month: Month) -> None:
    last_day_of_month = (month.first_day + timedelta(days=31)).replace(day=1) - timedelta(days=1)

    assert month.next().first_day == last_day_of_month + timedelta(days=1)


def test_december_rolls_over_into_january_of_the_next_year() -> None:
    assert Month(2024, 12).next() == Month(2025, 1)


@settings(max_examples=200)
@given(months, months)
def test_months_order_like_their_first_days(a: Month, b: Month) -> None:
    assert (a < b) == (a.first_day < b.first_day)


@settings(max_examples=200)
@given(days)
def test_a_day_belongs_to_the_month_whose_first_day_it_follows(day: date) -> None:
    month = Month.of(day)

    assert month.first_day <= day < month.next().first_day


def test_parse_accepts_the_first_of_a_month() -> None:
    assert Month.parse(date(2024, 3, 1)) == Month(2024, 3)


def test_parse_rejects_a_day_that_is_not_the_first() -> None:
    with pytest.raises(ValueError, match="not the first day"):
        Month.parse(date(2024, 3, 2))


def test_a_month_prints_as_year_dash_month() -> None:
    assert str(Month(2024, 3)) == "2024-03"


# --- require_date ------------------------------------------------------------------------------


@pytest.mark.parametrize("day", [EARLIEST_DATE, LATEST_DATE, date(2050, 6, 15)])
def test_dates_this_century_are_accepted(day: date) -> None:
    assert require_date(day, field="incurred_on") == day


@pytest.mark.parametrize("day", [date(1999, 12, 31), date(2100, 1, 1)])
def test_dates_outside_this_century_are_typos(day: date) -> None:
    with pytest.raises(InvalidInput) as caught:
        require_date(day, field="incurred_on")

    assert (caught.value.code, caught.value.field) == (ErrorCode.DATE_OUT_OF_RANGE, "incurred_on")


# --- Period.of ---------------------------------------------------------------------------------


@settings(max_examples=200)
@given(months, st.integers(min_value=1, max_value=MAX_PERIOD_MONTHS))
def test_a_month_aligned_period_of_up_to_a_year_is_accepted(start: Month, count: int) -> None:
    end = months_between(start, count + 1)[-1]

    period = Period.of(start.first_day, end.first_day)

    assert period.months() == tuple(months_between(start, count))


def test_a_period_of_exactly_twelve_months_is_accepted() -> None:
    period = Period.of(date(2024, 1, 1), date(2025, 1, 1))

    assert len(period.months()) == 12


def test_a_period_of_thirteen_months_is_invalid() -> None:
    with pytest.raises(InvalidInput) as caught:
        Period.of(date(2024, 1, 1), date(2025, 2, 1))

    assert (caught.value.code, caught.value.field) == (ErrorCode.PERIOD_INVALID, "period")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2024, 1, 2), date(2024, 2, 1)),
        (date(2024, 1, 1), date(2024, 2, 29)),
        (date(2024, 1, 15), date(2024, 3, 15)),
    ],
)
def test_a_period_not_on_first_days_is_invalid(start: date, end: date) -> None:
    with pytest.raises(InvalidInput) as caught:
        Period.of(start, end)

    assert (caught.value.code, caught.value.field) == (ErrorCode.PERIOD_INVALID, "period")


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2024, 3, 1), date(2024, 3, 1)), (date(2024, 3, 1), date(2024, 2, 1))],
)
def test_an_empty_or_backwards_period_is_invalid(start: date, end: date) -> None:
    with pytest.raises(InvalidInput) as caught:
        Period.of(start, end)

    assert (caught.value.code, caught.value.field) == (ErrorCode.PERIOD_INVALID, "period")


def test_a_start_before_2000_is_out_of_range_and_names_the_start() -> None:
    with pytest.raises(InvalidInput) as caught:
        Period.of(date(1999, 12, 1), date(2000, 2, 1))

    assert (caught.value.code, caught.value.field) == (
        ErrorCode.DATE_OUT_OF_RANGE,
        "period.start",
    )


def test_an_end_after_2099_is_out_of_range_and_names_the_end() -> None:
    with pytest.raises(InvalidInput) as caught:
        Period.of(date(2099, 12, 1), date(2100, 2, 1))

    assert (caught.value.code, caught.value.field) == (ErrorCode.DATE_OUT_OF_RANGE, "period.end")


def test_december_2099_can_still_be_split() -> None:
    assert Period.of(date(2099, 12, 1), date(2100, 1, 1)).months() == (Month(2099, 12),)


def test_period_errors_are_reported_under_the_field_given() -> None:
    with pytest.raises(InvalidInput) as caught:
        Period.of(date(1999, 1, 1), date(2000, 2, 1), field="request.period")

    assert caught.value.field == "request.period.start"


def test_a_period_of_one_month_covers_exactly_that_month() -> None:
    period = Period.month(Month(2024, 2))

    assert (period.start, period.end, period.months()) == (
        date(2024, 2, 1),
        date(2024, 3, 1),
        (Month(2024, 2),),
    )


@settings(max_examples=200)
@given(months, st.integers(min_value=1, max_value=MAX_PERIOD_MONTHS), months)
def test_a_period_contains_exactly_its_months(start: Month, count: int, probe: Month) -> None:
    period = Period.of(start.first_day, months_between(start, count + 1)[-1].first_day)

    assert period.contains(probe) == (probe in period.months())


# --- PeriodCalendar ----------------------------------------------------------------------------

nearby_months = st.builds(Month, st.just(2024), st.integers(1, 12)) | st.builds(
    Month, st.just(2025), st.integers(1, 12)
)


@settings(max_examples=200)
@given(st.frozensets(nearby_months, max_size=24), nearby_months)
def test_first_open_from_skips_exactly_the_closed_run(closed: frozenset[Month], m: Month) -> None:
    calendar = PeriodCalendar(closed=closed)

    found = calendar.first_open_from(m)

    skipped = months_between(m, 30)
    skipped = skipped[: skipped.index(found)]
    assert not calendar.is_closed(found)
    assert all(calendar.is_closed(month) for month in skipped)


def test_first_open_from_an_open_month_is_that_month() -> None:
    calendar = PeriodCalendar(closed=frozenset({Month(2024, 1)}))

    assert calendar.first_open_from(Month(2024, 2)) == Month(2024, 2)


def test_first_open_from_a_closed_run_lands_after_it() -> None:
    calendar = PeriodCalendar(closed=frozenset({Month(2024, 11), Month(2024, 12)}))

    assert calendar.first_open_from(Month(2024, 11)) == Month(2025, 1)


def test_months_without_a_booked_change_are_at_revision_zero() -> None:
    calendar = PeriodCalendar(revisions={Month(2024, 2): 3})

    assert calendar.revisions_of([Month(2024, 1), Month(2024, 2)]) == {
        Month(2024, 1): 0,
        Month(2024, 2): 3,
    }


def test_a_calendar_loaded_from_a_month_refuses_questions_about_earlier_months() -> None:
    calendar = PeriodCalendar(closed=frozenset({Month(2024, 3)}), since=Month(2024, 3))

    assert calendar.first_open_from(Month(2024, 3)) == Month(2024, 4)
    with pytest.raises(ValueError, match="starts at 2024-03"):
        calendar.is_closed(Month(2024, 2))
    with pytest.raises(ValueError, match="starts at 2024-03"):
        calendar.revision(Month(2023, 12))


def test_a_calendar_of_closed_months_only_refuses_to_guess_revisions() -> None:
    calendar = PeriodCalendar(closed=frozenset({Month(2024, 3)}), knows_revisions=False)

    assert calendar.first_open_from(Month(2024, 3)) == Month(2024, 4)
    with pytest.raises(ValueError, match="without the months' revisions"):
        calendar.revision(Month(2024, 4))
