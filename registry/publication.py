"""Publication state of a penalty decision as of a date: computed from the decision and the
policy, never hand-set.

A decision is published from the later of its decision date and its delivery, until the first
day past its period (``latest_end``, exclusive: a 1-year period from 2024-03-05 publishes
through 2025-03-04). Minor decisions are not published; revoked and repaired ones leave
publication at once. ``earliest_end`` is the first day credit repair may end publication, or
None when a penalty type can never end early.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from registry import clock
from registry.policy import PublicationPolicy, add_months, publication_policy


@dataclass(frozen=True)
class Window:
    """The publication window a decision gets when it is stored: its class, whether that class
    is published, and the dates that bound it. Stored on the decision so that "published on
    day D" is one indexed SQL condition (see :func:`published_on`)."""

    class_id: str
    published: bool
    published_from: date
    earliest_end: date | None
    latest_end: date


def window(
    *,
    decision_date: date,
    delivered_on: date,
    penalty_types: Iterable[str],
    publish_until: date | None = None,
    listed: bool = False,
    policy: PublicationPolicy | None = None,
) -> Window:
    """The publication window of a decision (see the module docstring for the rules)."""
    policy = policy or publication_policy()
    types = list(penalty_types)
    klass = policy.classify(types, listed=listed)
    latest_end = add_months(decision_date, klass.max_months)
    if publish_until is not None:
        latest_end = min(latest_end, publish_until + timedelta(days=1))
    earliest_end = add_months(decision_date, klass.min_months) if policy.can_end_early(types) else None
    return Window(klass.id, klass.published, max(decision_date, delivered_on), earliest_end, latest_end)


@dataclass(frozen=True)
class PublicationState:
    """Where a decision stands in publication on ``as_of``."""

    class_id: str
    published: bool
    reason: str | None  # why not published: minor, not_yet_delivered, period_ended, revoked, repaired
    published_from: date | None
    earliest_end: date | None
    latest_end: date | None


def publication_state(
    *,
    decision_date: date,
    delivered_on: date,
    penalty_types: Iterable[str],
    as_of: date | None = None,
    revoked: bool = False,
    repaired_on: date | None = None,
    listed: bool = False,
    publish_until: date | None = None,
    policy: PublicationPolicy | None = None,
) -> PublicationState:
    """The publication state of one decision on ``as_of`` (default: the registry's today).

    ``publish_until`` (公示截止期 as delivered) can shorten the period, never lengthen it past
    the class maximum.
    """
    as_of = as_of or clock.today()
    w = window(
        decision_date=decision_date,
        delivered_on=delivered_on,
        penalty_types=penalty_types,
        publish_until=publish_until,
        listed=listed,
        policy=policy,
    )
    if not w.published:
        return PublicationState(w.class_id, False, "minor", None, None, None)
    reason: str | None = None
    if revoked:
        reason = "revoked"
    elif repaired_on is not None and repaired_on <= as_of:
        reason = "repaired"
    elif as_of < w.published_from:
        reason = "not_yet_delivered"
    elif as_of >= w.latest_end:
        reason = "period_ended"
    return PublicationState(w.class_id, reason is None, reason, w.published_from, w.earliest_end, w.latest_end)
