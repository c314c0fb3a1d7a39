"""Publication classes and periods, tested by moving the registry's clock across every
boundary (day before, day of, day after the minimum and the maximum)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import ValidationFailed
from registry.policy import add_months, publication_policy
from registry.publication import publication_state

DECIDED = date(2024, 3, 5)
DELIVERED = date(2024, 3, 8)


def state(penalty_types: list[str], **kw):  # type: ignore[no-untyped-def]
    return publication_state(decision_date=DECIDED, delivered_on=DELIVERED, penalty_types=penalty_types, **kw)


@pytest.mark.parametrize(
    ("types", "class_id"),
    [
        (["警告"], "minor"),
        (["通报批评", "警告"], "minor"),
        (["警告", "罚款"], "general"),
        (["没收违法所得"], "general"),
        (["罚款", "吊销许可证件"], "serious"),
        (["限制从业"], "serious"),
        ([], "general"),
    ],
)
def test_the_longest_class_wins(types: list[str], class_id: str) -> None:
    assert publication_policy().classify(types).id == class_id


def test_a_decision_that_led_to_a_listing_is_serious() -> None:
    assert publication_policy().classify(["罚款"], listed=True).id == "serious"


def test_minor_decisions_are_not_published(set_today: Callable[[date], None]) -> None:
    set_today(date(2024, 3, 10))
    s = state(["警告"])
    assert (s.published, s.reason, s.class_id) == (False, "minor", "minor")


@pytest.mark.parametrize(
    ("types", "min_months", "max_months"),
    [(["罚款"], 3, 12), (["罚款", "责令停产停业"], 12, 36)],
)
def test_boundaries_of_each_published_class(
    set_today: Callable[[date], None], types: list[str], min_months: int, max_months: int
) -> None:
    minimum, maximum = add_months(DECIDED, min_months), add_months(DECIDED, max_months)
    expectations = [
        (DELIVERED - timedelta(days=1), False, "not_yet_delivered"),
        (DELIVERED, True, None),
        (minimum - timedelta(days=1), True, None),
        (minimum, True, None),
        (minimum + timedelta(days=1), True, None),
        (maximum - timedelta(days=1), True, None),
        (maximum, False, "period_ended"),
        (maximum + timedelta(days=1), False, "period_ended"),
    ]
    for today, published, reason in expectations:
        set_today(today)
        s = state(types)
        assert (s.published, s.reason) == (published, reason), today
        assert s.earliest_end == minimum and s.latest_end == maximum


def test_revoked_and_repaired_leave_publication_at_once(set_today: Callable[[date], None]) -> None:
    set_today(date(2024, 6, 1))
    assert state(["罚款"], revoked=True).reason == "revoked"
    assert state(["罚款"], repaired_on=date(2024, 6, 1)).reason == "repaired"
    assert state(["罚款"], repaired_on=date(2024, 6, 2)).published  # repair approved tomorrow


def test_never_early_types_have_no_earliest_end() -> None:
    assert state(["吊销许可证件"], as_of=date(2024, 4, 1)).earliest_end is None
    assert state(["降低资质等级"], as_of=date(2024, 4, 1)).earliest_end == date(2025, 3, 5)


def test_an_earlier_publish_until_shortens_but_never_lengthens(set_today: Callable[[date], None]) -> None:
    set_today(date(2024, 9, 1))
    short = state(["罚款"], publish_until=date(2024, 8, 31))
    assert short.latest_end == date(2024, 9, 1) and short.reason == "period_ended"
    assert state(["罚款"], publish_until=date(2030, 1, 1)).latest_end == date(2025, 3, 5)


def test_policy_file_overrides_periods(set_today: Callable[[date], None], tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from registry.config import reload_settings

    override = tmp_path / "policy.toml"
    override.write_text("[publication.classes.general]\nmax_months = 6\n", encoding="utf-8")
    monkeypatch.setenv("XINYONG_POLICY", str(override))
    reload_settings()
    assert publication_policy().by_id("general").max_months == 6
    assert publication_policy().by_id("serious").max_months == 36  # untouched classes keep defaults
    set_today(date(2024, 9, 5))
    monkeypatch.setenv("XINYONG_POLICY", str(override))
    reload_settings()
    assert state(["罚款"]).reason == "period_ended"


def test_a_broken_policy_file_is_refused_with_its_name(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from registry.config import reload_settings

    bad = tmp_path / "policy.toml"
    bad.write_text("[publication.classes.general]\ndefault = false\n", encoding="utf-8")
    monkeypatch.setenv("XINYONG_POLICY", str(bad))
    reload_settings()
    with pytest.raises(ValidationFailed, match="default"):
        publication_policy()


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)), st.integers(0, 120))
def test_add_months_lands_in_the_right_month_and_never_overflows(day: date, months: int) -> None:
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day <= day.day
