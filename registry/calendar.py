"""Working days in China: Monday to Friday, minus official holidays, plus adjusted working
weekends (调休上班), from ``registry/data/calendar.toml``. Deadlines such as "publish within 7
working days" and "object within 5 working days" are counted here.

Years without an arrangement in the file count weekdays only; :func:`covered` tells whether
a date is covered, so callers can say so rather than silently guess.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Calendar:
    """Holidays and adjusted working days."""

    off: frozenset[date]
    work: frozenset[date]
    years: frozenset[int]

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        if day in self.work:
            return True
        return day.weekday() < 5 and day not in self.off

    def add_working_days(self, start: date, days: int) -> date:
        """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
        if days < 0:
            raise ValueError("days must not be negative")
        current = start
        remaining = days
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            count += self.is_working_day(current)
        return count

    def covered(self, day: date) -> bool:
        """Whether the official arrangement for ``day``'s year is in the calendar."""
        return day.year in self.years


@lru_cache(maxsize=1)
def calendar() -> Calendar:
    """The shipped calendar."""
    with resources.files("registry").joinpath("data/calendar.toml").open("rb") as fh:
        data = tomllib.load(fh)
    off: set[date] = set()
    work: set[date] = set()
    for spec in data["years"].values():
        for first, last in spec["off"]:
            day, end = date.fromisoformat(first), date.fromisoformat(last)
            while day <= end:
                off.add(day)
                day += timedelta(days=1)
        work.update(date.fromisoformat(d) for d in spec["work"])
    return Calendar(frozenset(off), frozenset(work), frozenset(int(y) for y in data["years"]))
