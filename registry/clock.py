"""The one clock of the registry.

Every date rule (publication, listing, repair, working days) asks ``today()``; every stored
timestamp comes from ``now()``. Setting ``XINYONG_TODAY`` moves both, so audits, replays and
tests can stand on any day. Business dates are China Standard Time (UTC+8, no daylight saving).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

from registry.config import get_settings

CST = timezone(timedelta(hours=8), name="CST")


def today() -> date:
    """Today's date in China, or ``XINYONG_TODAY`` when set."""
    override = get_settings().today
    if override is not None:
        return override
    return datetime.now(CST).date()


def now() -> datetime:
    """The current instant as an aware UTC datetime.

    With ``XINYONG_TODAY`` set, the date part is that day (in China) and the time of day is the
    real one, so events recorded in one run still sort in the order they happened.
    """
    real = datetime.now(CST)
    override = get_settings().today
    if override is None:
        return real.astimezone(UTC)
    moved = datetime.combine(override, time(real.hour, real.minute, real.second, real.microsecond), CST)
    return moved.astimezone(UTC)


def start_of(day: date, *, days: int = 0) -> datetime:
    """The instant (UTC) a day in China begins, ``days`` later: for "on or after" filters on
    stored timestamps by calendar day."""
    return datetime.combine(day + timedelta(days=days), time(0), CST).astimezone(UTC)
