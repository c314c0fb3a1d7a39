"""The blacklist (严重失信主体名单): rules that find repeat and deliberate infringers, and the
due process that puts them on the list and takes them off (DOMAIN.md §5).

Lifecycle of a listing (``status``): a rule *proposes* it and the notice (告知) is recorded at
once, so it starts ``notified`` with an objection window of N working days; an admin then
decides ``list`` (→ ``listed`` from that day for ``listing_months``) or ``drop`` (→ ``dropped``);
a listed entry ends (``ended``) by itself when its period is over (``expired``), at once when a
triggering decision is revoked and the rule no longer holds (``revoked``), or early through
credit repair (``repaired``). Every step appends a :class:`ListingEvent`; nothing is
overwritten. Whether a listing is in force on a day is derived from its dates (see
:func:`in_force_on`), so the blacklist is exact even before a rules run records an expiry.

Evaluation is set-based: per rule, one SQL query groups the qualifying decisions by entity.
Each decision can trigger one listing only: a decision linked to any listing (listed,
dropped or ended) never proposes again, which makes a second run propose nothing new, and an
entity with an open listing gets fresh qualifying decisions recorded on it instead of a new
proposal. An entity has at most one open listing (enforced by a unique column, too).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, Index, Text, and_, case, func, or_, select, update
from sqlmodel import Field, Session, SQLModel
from sqlmodel import select as model_select

from registry import clock
from registry.calendar import calendar
from registry.db import NAMING_CONVENTION, Executor, bulk_insert, insert_with_ids, one_of  # noqa: F401
from registry.entities import ENTITY
from registry.errors import Conflict, NotFound, require_choice, required_text
from registry.penalties import PENALTY
from registry.policy import BlacklistPolicy, BlacklistRule, add_months, blacklist_policy

OPEN = ("notified", "listed")
STATUSES = ("notified", "listed", "dropped", "ended")


class Listing(SQLModel, table=True):
    """One proposal or listing of an entity under one rule."""

    __tablename__ = "listing"
    # An entity's listings, whether one is in force on a day, and what a batch check shows of
    # it (rule, title, dates), from the index alone: a batch asks that of some 60,000 entities
    # and shows some 15,000 listings, whose rows (about 1.5 KB each, with the notice) cost
    # several times the index probes, ten times when the disk must be read (migration 0008).
    # It also serves look-ups by entity. ``id`` makes it covering on PostgreSQL as well.
    __table_args__ = (
        Index(
            "ix_listing_in_force",
            "entity_id",
            "status",
            "listed_from",
            "listed_until",
            "rule_id",
            "rule_title",
            "id",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    entity_id: int = Field(foreign_key="entity.id")
    # The entity's id while the listing is open (notified or listed), else NULL: a unique
    # column, so the database itself refuses a second open listing of one entity.
    open_entity_id: int | None = Field(default=None, unique=True)
    rule_id: str = Field(max_length=64)
    rule_title: str = Field(max_length=128)
    basis: str = Field(sa_column=Column(Text, nullable=False))
    min_count: int
    status: str = Field(max_length=16, index=True)
    proposed_on: date = Field(sa_column=Column(Date, nullable=False))
    notice: str = Field(sa_column=Column(Text, nullable=False))
    objection_until: date = Field(sa_column=Column(Date, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    decided_by: str | None = Field(default=None, max_length=128)
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    listed_from: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # The last day listed (inclusive), as the public list shows it.
    listed_until: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    ended_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    end_reason: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class ListingDecision(SQLModel, table=True):
    """A decision a listing rests on: a trigger, or one added while the listing was open.
    A revoked decision stays linked with ``removed_on`` set."""

    __tablename__ = "listing_decision"

    listing_id: int = Field(foreign_key="listing.id", primary_key=True)
    decision_id: int = Field(foreign_key="penalty_decision.id", primary_key=True, index=True)
    role: str = Field(max_length=16)
    added_on: date = Field(sa_column=Column(Date, nullable=False))
    removed_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # The decision's number, agency and date, as a check shows them: read here, a check does
    # not read a random row of the penalty table per decision. Set with the link; the number
    # and agency never change, the date follows a re-delivery (registry.penalties).
    decision_no: str | None = Field(default=None, max_length=128)
    agency_id: int | None = Field(default=None)
    decision_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))


class ListingEvent(SQLModel, table=True):
    """One step in a listing's life: who, when, why, from which status to which."""

    __tablename__ = "listing_event"

    id: int | None = Field(default=None, primary_key=True)
    listing_id: int = Field(foreign_key="listing.id", index=True)
    at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    on: date = Field(sa_column=Column(Date, nullable=False))
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


LISTING = Listing.__table__  # type: ignore[attr-defined]
LINK = ListingDecision.__table__  # type: ignore[attr-defined]
EVENT = ListingEvent.__table__  # type: ignore[attr-defined]


@dataclass
class RunResult:
    """What one rules run did."""

    proposed: int = 0
    listed: int = 0  # listings in force after the run
    expired: int = 0
    revoked: int = 0
    added: int = 0  # fresh decisions recorded on open listings
    by_rule: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form ``xinyong rules run --json`` prints."""
        return {
            "proposed": self.proposed,
            "listed": self.listed,
            "expired": self.expired,
            "revoked": self.revoked,
            "added": self.added,
            "by_rule": self.by_rule,
        }


def in_force_on(day: date) -> Any:
    """The SQL condition "this listing is on the published blacklist on ``day``"."""
    return and_(LISTING.c.status == "listed", LISTING.c.listed_from <= day, LISTING.c.listed_until >= day)


def is_in_force(listing: Listing, day: date) -> bool:
    """Whether this listing is on the published blacklist on ``day`` (:func:`in_force_on` for
    one listing already read)."""
    return (
        listing.status == "listed"
        and listing.listed_from is not None
        and listing.listed_until is not None
        and listing.listed_from <= day <= listing.listed_until
    )


def effective_status(listing: Listing, day: date) -> str:
    """The status on ``day``: a listed entry past its last day has ended, even before a rules
    run records the expiry."""
    if listing.status == "listed" and listing.listed_until is not None and listing.listed_until < day:
        return "ended"
    return listing.status


def _qualifying(rule: BlacklistRule, day: date) -> list[Any]:
    """SQL conditions on a decision: it qualifies for ``rule`` on ``day``."""
    conditions: list[Any] = [
        PENALTY.c.status == "active",
        PENALTY.c.violation_type.in_(sorted(rule.violation_types)),
        PENALTY.c.decision_date <= day,
        PENALTY.c.decision_date > add_months(day, -rule.window_months),
    ]
    if rule.deliberate:
        conditions.append(PENALTY.c.deliberate.is_(True))
    heavier: list[Any] = [
        PENALTY.c.penalty_types.like(f"%{t}%") for t in sorted(rule.penalty_types)
    ]  # types are ';'-joined codes
    if rule.min_fine_wan is not None:
        heavier.append(PENALTY.c.fine_wan >= rule.min_fine_wan)
    if heavier:
        conditions.append(or_(*heavier))
    return conditions


def _unlinked() -> Any:
    return ~select(LINK.c.decision_id).where(LINK.c.decision_id == PENALTY.c.id).exists()


def _in_ids(session: Session, column: Any, ids: Collection[int] | None) -> list[Any]:
    """The entity filter: none (every entity) or these ids."""
    return [] if ids is None else [one_of(session, column, sorted(ids))]


def _event(listing_id: int, *, at: datetime, on: date, actor: str, action: str, **kw: Any) -> dict[str, Any]:
    return {
        "listing_id": listing_id,
        "at": at,
        "on": on,
        "actor": actor[:128],
        "action": action,
        "from_status": kw.get("from_status"),
        "to_status": kw.get("to_status"),
        "reason": kw.get("reason"),
        "detail": kw.get("detail"),
    }


def run_rules(
    *, session: Session, actor: str, entity_ids: Collection[int] | None = None, day: date | None = None
) -> RunResult:
    """Evaluate every rule (for all entities, or only ``entity_ids``, e.g. those an import batch
    touched): record expiries, end listings whose decisions were revoked, propose new listings
    with their notice, and add fresh qualifying decisions to open listings. Deterministic."""
    day = day or clock.today()
    policy = blacklist_policy()
    now = clock.now()
    result = RunResult()
    result.expired = _expire(session, actor=actor, day=day, now=now, entity_ids=entity_ids)
    result.revoked = _recheck(session, actor=actor, day=day, now=now, entity_ids=entity_ids)
    open_listing = {
        entity_id: listing_id
        for listing_id, entity_id in session.execute(
            select(LISTING.c.id, LISTING.c.entity_id).where(
                LISTING.c.status.in_(OPEN), *_in_ids(session, LISTING.c.entity_id, entity_ids)
            )
        ).all()
    }
    holding = _scan(session, policy.rules, day, entity_ids)
    result.by_rule = {rule.id: 0 for rule in policy.rules}
    to_propose: dict[str, dict[int, list[_Decision]]] = {rule.id: {} for rule in policy.rules}
    to_add: dict[int, dict[int, _Decision]] = {}
    for entity_id, by_rule in holding.items():
        fresh: dict[int, _Decision] = {}
        proposing = entity_id not in open_listing
        trigger: set[int] = set()
        for rule in policy.rules:  # the first rule that holds proposes; the others add to it
            decisions = by_rule.get(rule.id)
            if decisions is None:
                continue
            if proposing and not trigger:
                to_propose[rule.id][entity_id] = decisions
                trigger = {d.id for d in decisions}
            else:
                fresh.update({d.id: d for d in decisions if not d.linked and d.id not in trigger})
        if fresh:
            to_add[entity_id] = fresh
    for rule in policy.rules:
        created = _propose(session, to_propose[rule.id], rule, policy, actor=actor, day=day, now=now)
        open_listing.update(created)
        result.proposed += len(created)
        result.by_rule[rule.id] = len(created)
    result.added += _add_to_open(session, to_add, open_listing, actor=actor, day=day, now=now)
    result.listed = int(session.execute(select(func.count()).select_from(LISTING).where(in_force_on(day))).scalar_one())
    return result


@dataclass
class _Decision:
    id: int
    decision_no: str
    decision_date: date
    linked: bool
    agency_id: int = 0

    def link(self, listing_id: int, role: str, day: date) -> dict[str, Any]:
        """This decision's link to a listing, with the fields a check shows."""
        return {
            "listing_id": listing_id,
            "decision_id": self.id,
            "role": role,
            "added_on": day,
            "removed_on": None,
            "decision_no": self.decision_no,
            "agency_id": self.agency_id,
            "decision_date": self.decision_date,
        }


def _scan(
    session: Session, rules: Sequence[BlacklistRule], day: date, entity_ids: Collection[int] | None
) -> dict[int, dict[str, list[_Decision]]]:
    """Every rule in one pass: the decisions that could qualify under any rule are read once
    (flagged per rule, and whether already linked to a listing), grouped by entity in SQL,
    and only the entities for which some rule holds with a decision not yet linked come back,
    with their qualifying decisions. Returns {entity: {rule id: decisions}} for holding rules."""
    if not rules:
        return {}
    types = sorted({t for rule in rules for t in rule.violation_types})
    oldest = add_months(day, -max(rule.window_months for rule in rules))
    flags = [case((and_(*_qualifying(rule, day)), 1), else_=0).label(f"r{k}") for k, rule in enumerate(rules)]
    linked = case((~_unlinked(), 1), else_=0).label("linked")
    q = (
        select(
            PENALTY.c.id,
            PENALTY.c.entity_id,
            PENALTY.c.decision_no,
            PENALTY.c.decision_date,
            PENALTY.c.agency_id,
            linked,
            *flags,
        )
        .where(
            PENALTY.c.status == "active",
            PENALTY.c.violation_type.in_(types),
            PENALTY.c.decision_date <= day,
            PENALTY.c.decision_date > oldest,
            *_in_ids(session, PENALTY.c.entity_id, entity_ids),
        )
        .cte("q")
    )
    holds = [
        and_(
            func.count(case((q.c[f"r{k}"] == 1, q.c.decision_date)).distinct()) >= rule.min_count,
            func.sum(case((and_(q.c[f"r{k}"] == 1, q.c.linked == 0), 1), else_=0)) > 0,
        )
        for k, rule in enumerate(rules)
    ]
    candidates = select(q.c.entity_id).group_by(q.c.entity_id).having(or_(*holds))
    stmt = select(q).where(q.c.entity_id.in_(candidates)).order_by(q.c.entity_id, q.c.decision_date, q.c.id)
    rows: dict[int, list[Any]] = {}
    for row in session.execute(stmt).all():
        rows.setdefault(int(row.entity_id), []).append(row)
    out: dict[int, dict[str, list[_Decision]]] = {}
    for entity_id, decisions in rows.items():
        for k, rule in enumerate(rules):
            mine = [d for d in decisions if getattr(d, f"r{k}")]
            if len({d.decision_date for d in mine}) >= rule.min_count and any(not d.linked for d in mine):
                out.setdefault(entity_id, {})[rule.id] = [
                    _Decision(d.id, d.decision_no, d.decision_date, bool(d.linked), d.agency_id) for d in mine
                ]
    return out


def _add_to_open(
    session: Session,
    to_add: dict[int, dict[int, _Decision]],
    open_listing: dict[int, int],
    *,
    actor: str,
    day: date,
    now: datetime,
) -> int:
    """Record fresh qualifying decisions on the entity's open listing."""
    links, events = [], []
    for entity_id, fresh in to_add.items():
        listing_id = open_listing[entity_id]
        ordered = sorted(fresh.values(), key=lambda d: (d.decision_date, d.id))
        links += [d.link(listing_id, "added", day) for d in ordered]
        events.append(
            _event(
                listing_id,
                at=now,
                on=day,
                actor=actor,
                action="decision_added",
                detail={"decisions": [d.decision_no for d in ordered]},
            )
        )
    bulk_insert(session, LINK, links)
    bulk_insert(session, EVENT, events)
    return len(links)


def notice_text(
    policy: BlacklistPolicy, *, name: str, rule: BlacklistRule, decisions: Sequence[Any], until: date
) -> str:
    """The 告知 recorded at proposal: reasons (the decisions), basis, rights and the deadline."""
    listed = "；".join(f"{d.decision_no}（{d.decision_date.isoformat()}）" for d in decisions)
    return policy.notice.format(
        name=name, rule=rule.title, decisions=listed, basis=rule.basis, objection_until=until.isoformat()
    )


def _propose(
    session: Session,
    to_propose: dict[int, list[_Decision]],
    rule: BlacklistRule,
    policy: BlacklistPolicy,
    *,
    actor: str,
    day: date,
    now: datetime,
) -> dict[int, int]:
    if not to_propose:
        return {}
    entity_ids = sorted(to_propose)
    names: dict[int, str] = {}
    for start in range(0, len(entity_ids), 5000):
        chunk = entity_ids[start : start + 5000]
        names.update(
            session.execute(select(ENTITY.c.id, ENTITY.c.name).where(one_of(session, ENTITY.c.id, chunk))).all()
        )  # type: ignore[arg-type]
    until = calendar().add_working_days(day, policy.objection_working_days)
    rows: list[dict[str, Any]] = [
        {
            "entity_id": entity_id,
            "open_entity_id": entity_id,
            "rule_id": rule.id,
            "rule_title": rule.title,
            "basis": rule.basis,
            "min_count": rule.min_count,
            "status": "notified",
            "proposed_on": day,
            "notice": notice_text(
                policy, name=names[entity_id], rule=rule, decisions=to_propose[entity_id], until=until
            ),
            "objection_until": until,
            "created_at": now,
            "updated_at": now,
        }
        for entity_id in entity_ids
    ]
    ids = insert_with_ids(session, LISTING, rows)
    links, events = [], []
    for listing_id, row in zip(ids, rows, strict=True):
        decisions = to_propose[int(row["entity_id"])]
        links += [d.link(listing_id, "trigger", day) for d in decisions]
        numbers = [d.decision_no for d in decisions]
        events.append(
            _event(
                listing_id,
                at=now,
                on=day,
                actor=actor,
                action="proposed",
                to_status="proposed",
                detail={"rule": rule.id, "decisions": numbers},
            )
        )
        events.append(
            _event(
                listing_id,
                at=now,
                on=day,
                actor=actor,
                action="notified",
                from_status="proposed",
                to_status="notified",
                reason=row["notice"],
                detail={"objection_until": until.isoformat()},
            )
        )
    bulk_insert(session, LINK, links)
    bulk_insert(session, EVENT, events)
    return dict(zip(entity_ids, ids, strict=True))


def _expire(session: Session, *, actor: str, day: date, now: datetime, entity_ids: Collection[int] | None) -> int:
    """Record the end of listings whose period is over (their last day is before ``day``)."""
    due = session.execute(
        select(LISTING.c.id, LISTING.c.listed_until).where(
            LISTING.c.status == "listed",
            LISTING.c.listed_until < day,
            *_in_ids(session, LISTING.c.entity_id, entity_ids),
        )
    ).all()
    for start in range(0, len(due), 5000):
        chunk = due[start : start + 5000]
        session.execute(
            update(LISTING),
            [
                {
                    "id": i,
                    "status": "ended",
                    "end_reason": "expired",
                    "ended_on": last + timedelta(days=1),
                    "open_entity_id": None,
                    "updated_at": now,
                }
                for i, last in chunk
            ],
        )
    bulk_insert(
        session,
        EVENT,
        [
            _event(
                i,
                at=now,
                on=last + timedelta(days=1),
                actor=actor,
                action="expired",
                from_status="listed",
                to_status="ended",
                reason="listing period over",
            )
            for i, last in due
        ],
    )
    return len(due)


def _recheck(session: Session, *, actor: str, day: date, now: datetime, entity_ids: Collection[int] | None) -> int:
    """Unlink revoked decisions from open listings; end the listings that no longer rest on
    enough decisions (their rule's count on different dates). Returns how many ended."""
    stale = session.execute(
        select(LINK.c.listing_id, LINK.c.decision_id, PENALTY.c.decision_no)
        .select_from(
            LINK.join(LISTING, LISTING.c.id == LINK.c.listing_id).join(PENALTY, PENALTY.c.id == LINK.c.decision_id)
        )
        .where(
            LISTING.c.status.in_(OPEN),
            LINK.c.removed_on.is_(None),
            PENALTY.c.status == "revoked",
            *_in_ids(session, LISTING.c.entity_id, entity_ids),
        )
    ).all()
    if not stale:
        return 0
    touched: dict[int, list[str]] = {}
    for listing_id, decision_id, number in stale:
        session.execute(
            update(LINK)
            .where(LINK.c.listing_id == listing_id, LINK.c.decision_id == decision_id)
            .values(removed_on=day)
        )
        touched.setdefault(listing_id, []).append(number)
    ended = 0
    for listing_id, numbers in touched.items():
        listing = session.get(Listing, listing_id)
        assert listing is not None
        remaining = session.execute(
            select(func.count(PENALTY.c.decision_date.distinct()))
            .select_from(LINK.join(PENALTY, PENALTY.c.id == LINK.c.decision_id))
            .where(LINK.c.listing_id == listing_id, LINK.c.removed_on.is_(None), PENALTY.c.status == "active")
        ).scalar_one()
        holds = remaining >= listing.min_count
        events = [
            _event(
                listing_id,
                at=now,
                on=day,
                actor=actor,
                action="decision_removed",
                reason="decision revoked",
                detail={"decisions": numbers},
            )
        ]
        if not holds:
            events.append(
                _event(
                    listing_id,
                    at=now,
                    on=day,
                    actor=actor,
                    action="revoked",
                    from_status=listing.status,
                    to_status="ended",
                    reason="a triggering decision was revoked and the rule no longer holds",
                    detail={"decisions": numbers},
                )
            )
            listing.status, listing.end_reason, listing.ended_on = "ended", "revoked", day
            listing.open_entity_id = None
            listing.updated_at = now
            session.add(listing)
            ended += 1
        bulk_insert(session, EVENT, events)
    session.flush()
    return ended


def on_decision_revoked(*, session: Session, decision_id: int, actor: str) -> int:
    """Called when a decision is revoked: listings resting on it are rechecked at once, so a
    listing that no longer holds leaves the blacklist in the same transaction."""
    entity_ids = session.execute(
        select(LISTING.c.entity_id)
        .select_from(LINK.join(LISTING, LISTING.c.id == LINK.c.listing_id))
        .where(LINK.c.decision_id == decision_id)
    ).scalars()
    ids = set(entity_ids)
    if not ids:
        return 0
    return _recheck(session, actor=actor, day=clock.today(), now=clock.now(), entity_ids=ids)


def get_listing(*, session: Session, listing_id: int) -> Listing:
    """The listing with this id, or NotFound."""
    listing = session.get(Listing, listing_id)
    if listing is None:
        raise NotFound(f"no listing with id {listing_id}", code="not_found")
    return listing


def decide(*, session: Session, listing_id: int, decision: str, reason: str, actor: str) -> Listing:
    """An admin's decision on a proposal after its objection window: ``list`` publishes it for
    the listing period from today; ``drop`` closes it. 409 while the window is open."""
    require_choice(decision, ("list", "drop"), field="decision")
    text = required_text(reason, field="reason", what="a decision needs a reason")
    listing = get_listing(session=session, listing_id=listing_id)
    if listing.status != "notified":
        raise Conflict(
            f"listing {listing_id} is {listing.status}; only a notified proposal can be decided", code="not_pending"
        )
    day = clock.today()
    if day <= listing.objection_until:
        raise Conflict(
            f"listing {listing_id}: the objection window is open until {listing.objection_until.isoformat()} "
            f"(inclusive); decide from {(listing.objection_until + timedelta(days=1)).isoformat()}",
            code="objection_window_open",
        )
    policy = blacklist_policy()
    now = clock.now()
    before = listing.status
    listing.decided_at, listing.decided_by, listing.decision_reason = now, actor[:128], text
    if decision == "list":
        listing.status = "listed"
        listing.listed_from = day
        listing.listed_until = add_months(day, policy.listing_months) - timedelta(days=1)
    else:
        listing.status = "dropped"
        listing.open_entity_id = None
    listing.updated_at = now
    session.add(listing)
    session.add(
        ListingEvent(
            listing_id=listing_id,
            at=now,
            on=day,
            actor=actor[:128],
            action="listed" if decision == "list" else "dropped",
            from_status=before,
            to_status=listing.status,
            reason=text,
            detail={"listed_from": day.isoformat(), "listed_until": listing.listed_until.isoformat()}
            if listing.listed_until
            else None,
        )
    )
    session.flush()
    return listing


def file_objection(*, session: Session, listing_id: int, text: str, actor: str) -> ListingEvent:
    """An objection (陈述申辩) on the entity's behalf, accepted while the window is open."""
    body = required_text(text, field="text", what="an objection needs its text")
    listing = get_listing(session=session, listing_id=listing_id)
    day = clock.today()
    if listing.status != "notified":
        raise Conflict(
            f"listing {listing_id} is {listing.status}; objections go to notified proposals", code="not_pending"
        )
    if day > listing.objection_until:
        raise Conflict(
            f"listing {listing_id}: the objection window closed on {listing.objection_until.isoformat()}",
            code="objection_window_closed",
        )
    event = ListingEvent(
        listing_id=listing_id,
        at=clock.now(),
        on=day,
        actor=actor[:128],
        action="objection",
        from_status=listing.status,
        to_status=listing.status,
        reason=body,
    )
    session.add(event)
    session.flush()
    return event


def list_listings(
    *, session: Session, status: str | None = None, entity_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Listing], int]:
    """Listings by effective status on today (``proposed`` is an alias of ``notified``)."""
    day = clock.today()
    conditions: list[Any] = []
    if status is not None:
        require_choice(status, ("proposed", *STATUSES), field="status")
        status = "notified" if status == "proposed" else status
        if status == "listed":
            conditions.append(and_(LISTING.c.status == "listed", LISTING.c.listed_until >= day))
        elif status == "ended":
            conditions.append(
                or_(LISTING.c.status == "ended", and_(LISTING.c.status == "listed", LISTING.c.listed_until < day))
            )
        else:
            conditions.append(LISTING.c.status == status)
    if entity_id is not None:
        conditions.append(LISTING.c.entity_id == entity_id)
    total = session.execute(select(func.count()).select_from(LISTING).where(*conditions)).scalar_one()
    stmt = model_select(Listing).where(*conditions).order_by(LISTING.c.id.desc()).limit(limit).offset(offset)
    return list(session.exec(stmt).all()), int(total)


def decisions_of(*, session: Executor, listing_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The decisions behind each listing: number, agency code, date, role, whether removed."""
    from registry.agencies import Agency

    agency = Agency.__table__  # type: ignore[attr-defined]
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in listing_ids}
    ids = list(listing_ids)
    for start in range(0, len(ids), 5000):
        stmt = (
            select(
                LINK.c.listing_id,
                PENALTY.c.id,
                PENALTY.c.decision_no,
                agency.c.code,
                PENALTY.c.decision_date,
                LINK.c.role,
                LINK.c.removed_on,
            )
            .select_from(
                LINK.join(PENALTY, PENALTY.c.id == LINK.c.decision_id).join(agency, agency.c.id == PENALTY.c.agency_id)
            )
            .where(one_of(session, LINK.c.listing_id, ids[start : start + 5000]))
            .order_by(LINK.c.listing_id, PENALTY.c.decision_date, PENALTY.c.id)
        )
        for listing_id, decision_id, number, code, decided, role, removed in session.execute(stmt).all():
            out[listing_id].append(
                {
                    "decision_id": decision_id,
                    "decision_no": number,
                    "agency": code,
                    "decision_date": decided,
                    "role": role,
                    "removed_on": removed,
                }
            )
    return out


def events_of(*, session: Session, listing_id: int) -> list[ListingEvent]:
    """A listing's history, oldest first."""
    stmt = model_select(ListingEvent).where(ListingEvent.listing_id == listing_id).order_by(EVENT.c.id)
    return list(session.exec(stmt).all())


def current_listing(*, session: Session, entity_id: int, day: date) -> Listing | None:
    """The entity's listing in force on ``day``, if any."""
    stmt = model_select(Listing).where(LISTING.c.entity_id == entity_id, in_force_on(day))
    return session.exec(stmt).first()


def in_force(*, day: date, conditions: Sequence[Any] = (), any_day: bool = False) -> Any:
    """Listings in force on ``day`` with their entity's name, USCC and kind, newest first:
    what the public blacklist, its downloads and the checks read. ``any_day``: every listing
    that was ever published, whatever its state on ``day`` (the change feed's records)."""
    return (
        select(
            LISTING,
            ENTITY.c.name.label("entity_name"),
            ENTITY.c.uscc.label("entity_uscc"),
            ENTITY.c.kind.label("entity_kind"),
        )
        .select_from(LISTING.join(ENTITY, ENTITY.c.id == LISTING.c.entity_id))
        .where(LISTING.c.listed_from.is_not(None) if any_day else in_force_on(day), *conditions)
        .order_by(LISTING.c.listed_from.desc(), LISTING.c.id.desc())
    )


def listing_changes(*, session: Session, since: date | None, until: date) -> list[dict[str, Any]]:
    """Blacklist entries that entered (ADD) or left (DEL: expired, revoked, repaired) the
    published blacklist on the days after ``since`` up to ``until``, derived from the dates."""
    start = since or date(1900, 1, 1)
    out: list[dict[str, Any]] = []
    ever = LISTING.c.listed_from.is_not(None)
    adds = select(LISTING.c.id, LISTING.c.listed_from).where(
        ever,
        LISTING.c.listed_from > start,
        LISTING.c.listed_from <= until,
        or_(LISTING.c.ended_on.is_(None), LISTING.c.ended_on > LISTING.c.listed_from),
    )
    out += [{"change": "ADD", "reason": None, "on": d, "listing_id": i} for i, d in session.execute(adds).all()]
    # the day after the last day, unless it ended earlier
    natural_end = select(LISTING.c.id, LISTING.c.listed_until).where(
        ever,
        or_(LISTING.c.status == "listed", and_(LISTING.c.status == "ended", LISTING.c.end_reason == "expired")),
    )
    for i, last in session.execute(natural_end).all():
        end = last + timedelta(days=1)
        if start < end <= until:
            out.append({"change": "DEL", "reason": "expired", "on": end, "listing_id": i})
    early = select(LISTING.c.id, LISTING.c.ended_on, LISTING.c.end_reason).where(
        ever,
        LISTING.c.status == "ended",
        LISTING.c.end_reason != "expired",
        LISTING.c.ended_on > start,
        LISTING.c.ended_on <= until,
        LISTING.c.ended_on > LISTING.c.listed_from,
    )
    out += [{"change": "DEL", "reason": r, "on": d, "listing_id": i} for i, d, r in session.execute(early).all()]
    return out
