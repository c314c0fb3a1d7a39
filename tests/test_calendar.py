"""Working days with the official holiday arrangements of 2024–2026."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.calendar import calendar


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2024, 2, 4), True),  # Sunday, adjusted working day before the Spring Festival
        (date(2024, 2, 12), False),  # Monday in the Spring Festival
        (date(2025, 1, 1), False),
        (date(2025, 1, 2), True),
        (date(2025, 10, 8), False),  # National Day and Mid-Autumn together in 2025
        (date(2025, 10, 11), True),  # Saturday, adjusted
        (date(2026, 1, 4), True),  # Sunday, adjusted
        (date(2026, 2, 23), False),  # the last day of the 2026 Spring Festival
        (date(2026, 2, 28), True),
        (date(2026, 11, 21), False),  # an ordinary Saturday
        (date(2026, 11, 23), True),
    ],
)
def test_official_arrangements(day: date, working: bool) -> None:
    assert calendar().is_working_day(day) is working


def test_seven_working_days_across_the_2026_spring_festival() -> None:
    # decided Friday 2026-02-13: 14 (Sat, adjusted working day), then 24, 25, 26, 27, 28 (Sat, adjusted), Mar 2
    assert calendar().add_working_days(date(2026, 2, 13), 7) == date(2026, 3, 2)
    assert calendar().working_days_between(date(2026, 2, 13), date(2026, 3, 2)) == 7


def test_five_working_days_across_national_day_2025() -> None:
    # Tuesday 2025-09-30: Oct 1–8 off, 9 (Thu), 10 (Fri), 11 (Sat, adjusted), 13, 14
    assert calendar().add_working_days(date(2025, 9, 30), 5) == date(2025, 10, 14)


def test_years_covered() -> None:
    assert calendar().covered(date(2026, 12, 31)) and not calendar().covered(date(2027, 1, 4))


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)), st.integers(0, 40))
def test_adding_and_counting_agree(start: date, days: int) -> None:
    end = calendar().add_working_days(start, days)
    assert calendar().working_days_between(start, end) == days
    assert days == 0 or calendar().is_working_day(end)
    assert end - start >= timedelta(days=days)
