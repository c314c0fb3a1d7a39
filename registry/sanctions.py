"""Joint sanctions (失信联合惩戒): the pre-approval check, its record, and the feedback loop
(发起—响应—反馈, DOMAIN.md §6).

A check answers "may this applicant have this?" for one approval ``action``: ``restricted``
when the entity is on the published blacklist today and the catalogue (``policy.toml``
``[sanctions]``) has measures for that action triggered by its listing's rule; ``clear``
otherwise; ``unknown_entity`` for a valid code the registry does not hold; ``invalid`` (batch
only; a single check answers 422) for a malformed code. Only catalogue measures can be
returned. Every check is stored (who, action, code, answer, time) in the same transaction
that produces the answer, before it is returned; personal identity numbers are stored masked.

Batches are set-based: codes already in their normal form are looked up first, USCCs in the
entity table itself, the rest in one query per identifier scheme and then their entities by
id, and the listings in force of all entities found in one more; only codes not found are
validated in full, to tell a malformed code from an unknown one. The listings' details and
decisions come from two queries for all entities found. Codes with the same
normal form share one :class:`Answer`, which the batch route writes and records as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, cast

import orjson
from sqlalchemy import JSON, Column, Date, DateTime, Text, and_, bindparam, case, func, insert, select, text
from sqlmodel import Field, Session, SQLModel

from registry import clock
from registry.access import Principal
from registry.agencies import Agency
from registry.audit import AUDIT, EVENT_COLUMNS, event_values, record_event
from registry.db import (  # noqa: F401
    NAMING_CONVENTION,
    Executor,
    Prepared,
    allocate_ids,
    as_date,
    big_commit,
    connection_of,
    dialect_of,
    insert_with_ids,
    json_keys,
    one_of,
    plain_rows,
)
from registry.entities import ENTITY, EntityIdentifier
from registry.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    require_choice,
)
from registry.identifiers import already_normal, check, detected_normal_uscc, normalize, unknown_scheme_as_typed
from registry.listings import LINK, LISTING, in_force_on
from registry.policy import Measure, sanctions_policy
from registry.privacy import PERSONAL_SCHEMES, public_identifier

IDENT = EntityIdentifier.__table__  # type: ignore[attr-defined]
OUTCOMES = ("rejected", "approved_with_conditions", "approved", "withdrawn")


class SanctionCheck(SQLModel, table=True):
    """One check as it was answered, and the checker's feedback on it."""

    __tablename__ = "sanction_check"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    # indexed by time only: a batch writes 100,000 rows, and the audit reads are rare (admins)
    principal: str = Field(max_length=128)
    role: str = Field(max_length=16)
    # the checking agency's code; for a bank, its key's label (statistics group by this)
    party: str = Field(max_length=128)
    action: str = Field(max_length=16)
    code: str = Field(max_length=64)  # normal form; personal documents masked
    # no foreign key or index: a batch writes 100,000 rows, and nothing looks checks up by entity
    entity_id: int | None = Field(default=None)
    decision: str = Field(max_length=16)
    listing_ids: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    measures: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    batch: bool = False
    feedback_outcome: str | None = Field(default=None, max_length=32)
    feedback_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    feedback_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


CHECK = SanctionCheck.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class CheckResult:
    """The answer for one code."""

    index: int
    code: str  # as shown: normal form, personal documents masked
    decision: str
    reason: str | None = None
    entity: dict[str, Any] | None = None
    listings: list[dict[str, Any]] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    check_id: int | None = None
    entity_id: int | None = None


def _require_action(action: str) -> None:
    require_choice(action, sanctions_policy().actions, field="action", code="invalid_action")


def _shown(scheme: str | None, value: str) -> str:
    return public_identifier(scheme, value) or ""


_JOINED = IDENT.join(ENTITY, ENTITY.c.id == IDENT.c.entity_id)
_DAY: Any = bindparam("day", type_=Date())
# each identifier's entity and the listing in force on the day, if any (at most one: an
# entity has at most one open listing), in one pass; the listing's details come after, for
# the few entities that have one
_FOUND = select(
    IDENT.c.scheme,
    IDENT.c.value,
    IDENT.c.entity_id,
    ENTITY.c.name,
    ENTITY.c.uscc,
    ENTITY.c.kind,
    LISTING.c.id,
).select_from(_JOINED.outerjoin(LISTING, and_(LISTING.c.entity_id == ENTITY.c.id, in_force_on(_DAY))))
# a single check's statement, built once: composing a select costs more than running it, and
# plain parameters render faster than an expanding IN
_FIND_ONE = Prepared(
    _FOUND.where(IDENT.c.value == bindparam("value"), IDENT.c.scheme.in_([bindparam("s1"), bindparam("s2")]))
)
# a batch's entities
_ENTITIES = select(ENTITY.c.id, ENTITY.c.name, ENTITY.c.uscc, ENTITY.c.kind)
# the same for many USCCs on SQLite, from ``ix_entity_uscc_shown`` alone: SQLite's planner
# takes the unique index on ``uscc``, which needs each entity's row as well, unless told
_BY_USCC_SQLITE = Prepared(
    text(
        "SELECT id, name, uscc, kind FROM entity INDEXED BY ix_entity_uscc_shown "
        "WHERE uscc IN (SELECT value FROM json_each(:usccs))"
    )
)
# keys bound in one look-up: a whole batch (up to 100,000 codes) in one statement. Two halves
# cost PostgreSQL two scans of the listings in force (0.29 s against 0.18 s for 75,000
# entities) and two index passes for the USCCs (0.35 s against 0.28 s); SQLite the same either way
_KEYS_PER_QUERY = 100_000
# the listings in force on the day of the entities found, with what a batch shows of them
# but the basis (a :data:`Head`), by entity id in id order: ``ix_listing_in_force`` holds
# them all, so each is an index-only probe, where the listing's row is some 1.5 KB
_IN_FORCE = select(
    LISTING.c.entity_id,
    LISTING.c.id,
    LISTING.c.rule_id,
    LISTING.c.rule_title,
    LISTING.c.listed_from,
    LISTING.c.listed_until,
).where(in_force_on(_DAY))
# a listing's head, as the look-ups keep it by listing id: rule, rule title, listed from, until
Head = tuple[Any, ...]


def _find(
    session: Executor,
    keys: Collection[tuple[str, str]],
    day: date,
    entities: dict[int, dict[str, Any]],
    listed: dict[int, int],
    heads: dict[int, Head] | None = None,
) -> dict[tuple[str, str], int]:
    """Entity ids of (scheme, value) pairs: one prepared query for a single code, else
    :func:`_find_many`. The entities' name, USCC and kind go into ``entities``, the listing
    in force on ``day`` of those that have one into ``listed`` (entity id -> listing id), and
    for many codes the heads of those listings into ``heads``."""
    found: dict[tuple[str, str], int] = {}
    distinct = {v for _, v in keys}
    connection = connection_of(session)
    if len(distinct) == 1:
        [value] = distinct
        schemes = sorted({s for s, _ in keys})
        pairs = [(schemes[0], schemes[-1])] if len(schemes) <= 2 else [(s, s) for s in schemes]
        for s1, s2 in pairs:
            params = {"value": value, "s1": s1, "s2": s2, "day": day}
            for scheme, at, entity_id, name, uscc, kind, listing_id in _FIND_ONE.all(connection, params):
                if (scheme, at) in keys:
                    found[(scheme, at)] = entity_id
                    entities[entity_id] = {"name": name, "uscc": uscc, "kind": kind}
                    if listing_id is not None:
                        listed[entity_id] = listing_id
    elif keys:
        _find_many(session, keys, day, found, entities, listed, heads)
    return found


def _find_many(
    session: Executor,
    keys: Collection[tuple[str, str]],
    day: date,
    found: dict[tuple[str, str], int],
    entities: dict[int, dict[str, Any]],
    listed: dict[int, int],
    heads: dict[int, Head] | None = None,
) -> None:
    """:func:`_find` for many (scheme, value) pairs: :func:`_find_values` asked for exactly those."""
    by_value: dict[str, list[str]] = {}
    for scheme, value in keys:
        by_value.setdefault(value, []).append(scheme)
    for scheme, value, entity_id in _find_values(session, by_value, day, entities, listed, by_value.__getitem__, heads):
        found[(scheme, value)] = entity_id


def _find_values(
    session: Executor,
    values: Collection[str],
    day: date,
    entities: dict[int, dict[str, Any]],
    listed: dict[int, int],
    schemes: Callable[[str], Sequence[str]] | None = None,
    heads: dict[int, Head] | None = None,
) -> list[tuple[str, str, int]]:
    """What was found for many codes in normal form, each under the ``schemes`` it may be
    (default: those its shape allows, :func:`_schemes`), as (scheme, value, entity id), USCCs
    first, then by scheme. Work is per value, not per (scheme, value): a batch of 100,000
    codes builds no pair for a code found as a USCC.

    USCCs come straight from the entity table: an entity holds at most one USCC and its
    ``uscc`` column always carries it (``entities.resolve`` sets both), so one probe of
    ``ix_entity_uscc_shown`` gives what the answer shows, where the identifier table would
    need a probe, a row read and then the entity by id (twice the time on a registry of
    1,000,000 entities, SQLite). The other codes, and any USCC not found that way, go through
    the identifiers (one query per scheme), then their entities by id, in id order (a third
    less than in code order). Last, the listings in force of every entity found, by entity id
    in id order, from ``ix_listing_in_force`` alone. The entities' name, USCC and kind go
    into ``entities``, the listing in force on ``day`` of those that have one into ``listed``,
    and its head (rule, title, dates) into ``heads``."""
    connection = connection_of(session)
    found: list[tuple[str, str, int]] = []
    as_uscc: set[str] = set()  # found as USCCs: no other scheme is asked for them (USCCs win)
    if schemes is None:  # by shape: every code of 18 characters may be a USCC
        schemes = _schemes
        usccs = [value for value in values if len(value) == 18]
    else:
        usccs = [value for value in values if "uscc" in schemes(value)]
    for start in range(0, len(usccs), _KEYS_PER_QUERY):
        chunk = usccs[start : start + _KEYS_PER_QUERY]
        if len(chunk) > 64 and dialect_of(session) == "sqlite":
            rows = _BY_USCC_SQLITE.all(connection, {"usccs": json_keys(chunk)})
        else:
            rows = plain_rows(connection, _ENTITIES.where(one_of(session, ENTITY.c.uscc, chunk)))
        entities.update({row[0]: {"name": row[1], "uscc": row[2], "kind": row[3]} for row in rows})
        found.extend([("uscc", row[2], row[0]) for row in rows])
        as_uscc.update([row[2] for row in rows])
    by_scheme: dict[str, list[str]] = {}
    for value in values:
        if value not in as_uscc:
            for scheme in schemes(value):
                by_scheme.setdefault(scheme, []).append(value)
    others: list[int] = []
    for scheme, pending in by_scheme.items():
        for start in range(0, len(pending), _KEYS_PER_QUERY):
            stmt = select(IDENT.c.value, IDENT.c.entity_id).where(
                IDENT.c.scheme == scheme, one_of(session, IDENT.c.value, pending[start : start + _KEYS_PER_QUERY])
            )
            for value, entity_id in plain_rows(connection, stmt):
                found.append((scheme, value, entity_id))
                others.append(entity_id)
    ids = sorted(set(others).difference(entities))
    for start in range(0, len(ids), _KEYS_PER_QUERY):
        for entity_id, name, uscc, kind in plain_rows(
            connection, _ENTITIES.where(one_of(session, ENTITY.c.id, ids[start : start + _KEYS_PER_QUERY]))
        ):
            entities[entity_id] = {"name": name, "uscc": uscc, "kind": kind}
    ids = sorted(entities)
    for start in range(0, len(ids), _KEYS_PER_QUERY):
        stmt = _IN_FORCE.where(one_of(session, LISTING.c.entity_id, ids[start : start + _KEYS_PER_QUERY]))
        rows = plain_rows(connection, stmt, {"day": day})
        listed.update([(row[0], row[1]) for row in rows])
        if heads is not None:
            heads.update([(row[1], row[2:]) for row in rows])
    return found


def _schemes(value: str) -> tuple[str, ...]:
    """The schemes a code in normal form can be, by its shape (for the index-only look-up)."""
    n = len(value)
    if n == 18:
        return ("uscc", "resident_id") if value[:17].isdigit() else ("uscc",)
    if n == 15:
        return ("reg_no", "resident_id") if value.isdigit() else ()
    return ("org_code",) if n == 9 else ()


class Answer(NamedTuple):
    """One code's answer without its position or check id (what :func:`answers` returns):
    codes with the same normal form share one, so a batch builds no object per code."""

    code: str  # as shown: normal form, personal documents masked
    decision: str
    reason: str | None
    entity_id: int | None
    entity: dict[str, Any] | None
    listings: list[dict[str, Any]]
    measures: list[Measure]


_NONE: list[Any] = []  # the listings and measures of an answer that has none (shared, never changed)


def evaluate(*, session: Executor, codes: Sequence[str], action: str, day: date | None = None) -> list[CheckResult]:
    """The answers for ``codes`` at ``action`` on ``day``, in input order (nothing stored).
    Work is per distinct code: a code given twice is looked up once."""
    return [
        CheckResult(i, a.code, a.decision, a.reason, a.entity, a.listings or [], a.measures or [], None, a.entity_id)
        for i, a in enumerate(answers(session=session, codes=codes, action=action, day=day))
    ]


def answers(*, session: Executor, codes: Sequence[str], action: str, day: date | None = None) -> list[Answer]:
    """What :func:`evaluate` answers, as one shared :class:`Answer` per distinct code, in input
    order. Treat as read-only."""
    distinct, places, _bases = answered(session=session, codes=codes, action=action, day=day)
    return [distinct[p] for p in places]


class Answered(NamedTuple):
    """A batch's answers as :func:`answered` gives them: each distinct answer once, in the
    order the codes first name them, and for each code, in input order, the place of its
    answer in ``distinct``. The batch route writes, records and counts the distinct answers
    and repeats them by place: 100,000 codes need no object per code. ``bases``: for each rule
    the answers' listings name, the basis of the first such listing, in that order (a batch
    describes each rule once)."""

    distinct: list[Answer]
    places: list[int]
    bases: dict[str, str]


def answered(
    *, session: Executor, codes: Sequence[str], action: str, day: date | None = None, basis: bool = True
) -> Answered:
    """What :func:`answers` answers, distinct answers and places apart (see :class:`Answered`).
    Without ``basis``, the listings carry no ``basis`` of their own, and only ``bases`` tells
    the rules' (what a batch shows): their heads then come from the index alone."""
    _require_action(action)
    day = day or clock.today()
    norm = [(raw if already_normal(raw) else normalize(raw)) if isinstance(raw, str) else "" for raw in codes]
    entities: dict[int, dict[str, Any]] = {}
    listed_by_entity: dict[int, int] = {}
    heads: dict[int, Head] = {}
    values = dict.fromkeys(norm)
    if len(values) == 1:  # one prepared query
        wanted = {(scheme, value): None for value in values for scheme in _schemes(value)}
        one = _find(session, wanted, day, entities, listed_by_entity)
        found = [(scheme, value, entity_id) for (scheme, value), entity_id in one.items()]
    else:
        found = _find_values(session, values, day, entities, listed_by_entity, heads=heads)
    listed = _listings(session, listed_by_entity, heads, basis)
    measures = sanctions_policy().for_action(action)
    by_rules: dict[tuple[str, ...], list[Measure]] = {}
    distinct: list[Answer] = []

    def answer(scheme: str, value: str, entity_id: int) -> int:
        """The place of a new answer for an entity found as (scheme, value)."""
        shown = value if scheme not in PERSONAL_SCHEMES else _shown(scheme, value)
        entity = entities[entity_id]
        entity_listings = listed.get(entity_id)
        if entity_listings is not None:
            rules = tuple(item["rule"] for item in entity_listings)
            applied = by_rules.get(rules)
            if applied is None:
                applied = by_rules[rules] = [m for m in measures if any(m.triggered_by(r) for r in rules)]
            if applied:
                distinct.append(Answer(shown, "restricted", None, entity_id, entity, entity_listings, applied))
                return len(distinct) - 1
        distinct.append(Answer(shown, "clear", None, entity_id, entity, _NONE, _NONE))
        return len(distinct) - 1

    by_value: dict[str, int] = {}  # normal form -> the place of its answer; the first scheme found wins
    for scheme, value, entity_id in found:
        if value not in by_value:
            by_value[value] = answer(scheme, value, entity_id)
    # codes not found as typed: validate fully (malformed?), and look up what validates
    places = list(map(by_value.get, norm))
    invalid: dict[str, int] = {}  # the code as typed -> the place of its answer
    retry: dict[tuple[str, str], list[int]] = {}
    for i, place in enumerate(places):
        if place is not None:
            continue
        value = norm[i]
        raw = codes[i]
        raw = raw if isinstance(raw, str) else ""
        if raw is value and detected_normal_uscc(value):  # typed in normal form: no full check needed
            retry.setdefault(("uscc", value), []).append(i)
            continue
        known_bad = invalid.get(raw)
        if known_bad is not None:
            places[i] = known_bad
            continue
        if unknown_scheme_as_typed(raw):  # what the full check would answer, without its messages
            distinct.append(Answer(raw, "invalid", "unknown_scheme", None, None, _NONE, _NONE))
        else:
            checked = check(raw)
            if checked.valid and checked.scheme is not None and checked.normalized is not None:
                retry.setdefault((checked.scheme, checked.normalized), []).append(i)
                continue
            shown = checked.public_dict()["input"] or ""
            distinct.append(Answer(shown, "invalid", checked.reason, None, None, _NONE, _NONE))
        places[i] = invalid[raw] = len(distinct) - 1
    # a code found invalid as typed but valid in full is looked up again, unless the first
    # look-up already asked for its scheme and normal form (a valid unknown code: no need)
    again = {key: None for key in retry if key[1] not in values or key[0] not in _schemes(key[1])}
    found_again: dict[tuple[str, str], int] = {}
    if again:
        more: dict[int, int] = {}
        found_again = _find(session, again, day, entities, more, heads)
        listed.update(_listings(session, {e: at for e, at in more.items() if e not in listed_by_entity}, heads, basis))
    for (scheme, value), at in retry.items():
        known = found_again.get((scheme, value))
        if known is None:
            distinct.append(Answer(_shown(scheme, value), "unknown_entity", None, None, None, _NONE, _NONE))
            place = len(distinct) - 1
        else:
            place = answer(scheme, value, known)
        for i in at:
            places[i] = place
    # the distinct answers in the order the codes first name them (found ones were made in
    # the look-up's order): what a reader of the answer expects, the top-level listings included
    every = cast("list[int]", places)  # every position answered
    first = list(dict.fromkeys(every))
    renumbered = [0] * len(distinct)
    for new, old in enumerate(first):
        renumbered[old] = new
    ordered = [distinct[old] for old in first]
    return Answered(ordered, list(map(renumbered.__getitem__, every)), _bases(session, ordered, basis))


def _bases(session: Executor, ordered: list[Answer], basis: bool) -> dict[str, str]:
    """For each rule ``ordered``'s listings name, the basis of the first such listing: from
    the listings themselves when they carry it, else read for those few listings alone."""
    firsts: dict[str, dict[str, Any]] = {}
    for a in ordered:
        if a.listings:
            for item in a.listings:
                firsts.setdefault(item["rule"], item)
    if basis or not firsts:
        return {rule: item["basis"] for rule, item in firsts.items()}
    texts = dict(_basis_rows(session, [item["id"] for item in firsts.values()]))
    return {rule: texts[item["id"]] for rule, item in firsts.items()}


# what :func:`_listings` reads, before the listing ids are bound: the decisions behind the
# listings (links not removed, by date then id, with their agency's code), and the listings'
# shown columns; prepared for one listing, a single check's case (built and compiled anew
# each time, they cost several times what running them did)
_AGENCY = Agency.__table__  # type: ignore[attr-defined]
_LINKS = (
    select(LINK.c.listing_id, LINK.c.decision_no, _AGENCY.c.code, LINK.c.decision_date)
    .select_from(LINK.outerjoin(_AGENCY, _AGENCY.c.id == LINK.c.agency_id))
    .where(LINK.c.removed_on.is_(None))
    .order_by(LINK.c.listing_id, LINK.c.decision_date, LINK.c.decision_id)  # by date, then id
)
_SHOWN = select(
    LISTING.c.id,
    LISTING.c.rule_id,
    LISTING.c.rule_title,
    LISTING.c.listed_from,
    LISTING.c.listed_until,
    LISTING.c.basis,
)
_LINKS_ONE = Prepared(_LINKS.where(LINK.c.listing_id == bindparam("listing")))
_SHOWN_ONE = Prepared(_SHOWN.where(LISTING.c.id == bindparam("listing")))
_BASIS = select(LISTING.c.id, LISTING.c.basis)


def _basis_rows(session: Executor, ids: list[int]) -> list[tuple[Any, ...]]:
    """(listing id, basis) of the listings ``ids``."""
    return plain_rows(connection_of(session), _BASIS.where(one_of(session, LISTING.c.id, ids)))


def _listings(
    session: Executor, listed: dict[int, int], heads: dict[int, Head] | None = None, basis: bool = True
) -> dict[int, list[dict[str, Any]]]:
    """The listings ``listed`` names (entity id -> listing id, as :func:`_find` found them in
    force), with the decisions behind them (those not removed, oldest first), by entity. Only
    the columns the answer shows: a batch meets some 15,000 listings. Their heads (rule,
    title, dates) come from ``heads`` where the look-up found them in the index, else from
    the listings' rows; their basis (some 150 characters a listing) only with ``basis``.
    The decisions' number, agency and date come from their links (``ListingDecision``), which
    keep them for this: read from the penalty table, they cost a random row of a table of
    several GB each."""
    if not listed:
        return {}
    ids = sorted(set(listed.values()))
    connection = connection_of(session)
    days: dict[Any, date | None] = {}  # each date's text converted once: a batch meets few days

    def day(value: Any) -> date | None:
        if value not in days:
            days[value] = as_date(value)
        return days[value]

    linked: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if len(ids) == 1:  # a single check: statements compiled once, the listing id bound
        link_rows = _LINKS_ONE.all(connection, {"listing": ids[0]})
    else:
        link_rows = plain_rows(connection, _LINKS.where(one_of(session, LINK.c.listing_id, ids)))
    for listing_id, number, code, decided in link_rows:
        linked[listing_id].append({"decision_no": number, "agency": code, "decision_date": day(decided)})
    known = heads if heads is not None else {}
    missing = [i for i in ids if i not in known]
    shown: dict[int, Head] = {}
    texts: dict[int, str] = {}
    if missing:
        if len(missing) == 1:
            rows = _SHOWN_ONE.all(connection, {"listing": missing[0]})
        else:
            rows = plain_rows(connection, _SHOWN.where(one_of(session, LISTING.c.id, missing)))
        for listing_id, *head, text in rows:
            shown[listing_id] = tuple(head)
            texts[listing_id] = text
    if basis and len(texts) < len(ids):
        texts.update(_basis_rows(session, [i for i in ids if i not in texts]))
    owner = {listing_id: entity_id for entity_id, listing_id in listed.items()}
    out: dict[int, list[dict[str, Any]]] = {}
    for listing_id in ids:
        rule, title, listed_from, listed_until = known.get(listing_id) or shown[listing_id]
        item: dict[str, Any] = {"id": listing_id, "rule": rule, "rule_title": title}
        if basis:
            item["basis"] = texts[listing_id]
        item["listed_from"] = day(listed_from)
        item["listed_until"] = day(listed_until)
        item["decisions"] = linked[listing_id]
        out.setdefault(owner[listing_id], []).append(item)
    return out


# what :func:`recording` writes, in this order
_COLUMNS = (
    "at",
    "principal",
    "role",
    "party",
    "action",
    "code",
    "entity_id",
    "decision",
    "listing_ids",
    "measures",
    "batch",
)
_INSERT_ONE = Prepared(insert(CHECK).returning(CHECK.c.id), column_keys=_COLUMNS)
# PostgreSQL: a single check and its audit event (detail: the check's id) in one statement
_CHECK_ROW = insert(CHECK).values({k: bindparam(k, type_=CHECK.c[k].type) for k in _COLUMNS}).returning(CHECK.c.id)
_CHECKED = _CHECK_ROW.cte("checked")
_AUDITED_ONE_PG = Prepared(
    select(_CHECKED.c.id).add_cte(
        insert(AUDIT)
        .from_select(
            list(EVENT_COLUMNS),
            select(
                *(bindparam(f"event_{k}", type_=AUDIT.c[k].type) for k in EVENT_COLUMNS if k != "detail"),
                func.json_build_object("check_id", _CHECKED.c.id),
            ).select_from(_CHECKED),
        )
        .cte("audited")
    )
)


def record(
    *, session: Executor, principal: Principal, action: str, results: list[CheckResult], batch: bool = False
) -> None:
    """Store every answer (ids set on the results), in the caller's transaction."""
    stored = [Answer(r.code, r.decision, r.reason, r.entity_id, r.entity, r.listings, r.measures) for r in results]
    recorded = recording(session=session, principal=principal, action=action, answers=stored, batch=batch)
    recorded.wait()
    for result, check_id in zip(results, recorded.ids, strict=True):
        result.check_id = check_id


# a batch at least this big is stored in a thread of its own (see :func:`recording`)
RECORD_IN_THREAD = 1000


class Recording(NamedTuple):
    """Checks being stored (:func:`recording`): their ids, in order, known at once, and what
    waits until they are stored (raising the error should storing them have failed)."""

    ids: Sequence[int]
    wait: Callable[[], None]


def _stored() -> None:
    """The wait of checks stored before :func:`recording` returned."""


def recording(
    *,
    session: Executor,
    principal: Principal,
    action: str,
    answers: Sequence[Answer],
    batch: bool = False,
    places: Sequence[int] | None = None,
    before: Callable[[Sequence[int]], Any] | None = None,
    commit: bool = False,
) -> Recording:
    """Start storing every answer, in the caller's transaction. With ``places`` (see
    :class:`Answered`), ``answers`` are the distinct answers and a check is stored per place.
    ``before`` is called with the ids, in that transaction, before anything may run in
    another thread (the batch route writes its audit event there).

    A big batch's checks are stored by one ``INSERT`` in a thread of its own, which SQLite
    runs, and the PostgreSQL driver waits for, without holding Python's lock: the caller
    builds its answer meanwhile, check ids included (a batch of 100,000 codes spends some
    0.2 s in that insert on SQLite). With ``commit``, that thread also commits the
    transaction once they are stored, so the commit's writes (some 50 ms for 100,000 checks
    on SQLite) overlap the caller's work as well; the caller still commits its session
    afterwards, which then has nothing left to write. Until it has waited, the caller must
    not use ``session``; everything the thread needs is made here, in the caller's thread."""
    count = len(answers) if places is None else len(places)
    common = _common(principal, action)
    dialect = dialect_of(session)
    run: Callable[[], None] | None = None  # the statement that stores them, where not yet run
    ids: Sequence[int]
    if not count:
        ids = []
    elif count >= RECORD_IN_THREAD or (count > 1 and dialect == "sqlite"):
        insert = _insert_sqlite if dialect == "sqlite" else _insert_postgresql
        ids, run = insert(session, common, answers, places, batch)
    else:
        dicts = [_cells(common, a, batch) for a in answers]
        if places is not None:
            dicts = [dicts[p] for p in places]  # the same row for every place of an answer: not changed
        if len(dicts) == 1:  # a single check: one statement that also answers the id
            ids = [int(_INSERT_ONE.scalar(connection_of(session), dicts[0]))]
        else:
            ids = insert_with_ids(session, CHECK, dicts)
    if before is not None:
        before(ids)
    if run is None:
        return Recording(ids, _stored)
    if count < RECORD_IN_THREAD:
        run()
        return Recording(ids, _stored)
    return Recording(ids, _in_thread(_then_commit(session, run) if commit else run))


def _then_commit(session: Executor, run: Callable[[], None]) -> Callable[[], None]:
    """``run``, then a commit of the session's transaction on its DBAPI connection (no
    SQLAlchemy state: it may run in another thread; the session's own commit afterwards finds
    nothing left to commit); on SQLite the WAL is then emptied (``registry.db.big_commit``)."""
    commit = big_commit(connection_of(session))

    def run_and_commit() -> None:
        run()
        commit()

    return run_and_commit


def _common(principal: Principal, action: str) -> tuple[Any, ...]:
    """The cells every check of one request shares: time, principal, role, party, action."""
    party = (principal.agency_code or principal.label)[:128]
    return (clock.now(), principal.label[:128], principal.role, party, action)


def _own_cells(a: Answer) -> tuple[Any, ...]:
    """The cells of a check that are its own (code, entity, decision, listings, measures):
    listings and measures as lists, none as ``None`` (stored as NULL)."""
    return (
        a.code[:64],
        a.entity_id,
        a.decision,
        [item["id"] for item in a.listings] if a.listings else None,
        [m.code for m in a.measures] if a.measures else None,
    )


def _cells(common: tuple[Any, ...], a: Answer, batch: bool) -> dict[str, Any]:
    """One check's row as stored (``_COLUMNS``)."""
    return dict(zip(_COLUMNS, (*common, *_own_cells(a), batch), strict=True))


def _in_thread(run: Callable[[], None]) -> Callable[[], None]:
    """``run`` started in a thread; the function returned waits for it, and raises its error."""
    failed: list[BaseException] = []

    def target() -> None:
        try:
            run()
        except BaseException as exc:  # handed to the waiting caller
            failed.append(exc)

    worker = threading.Thread(target=target, name="xinyong-record-checks")
    worker.start()

    def wait() -> None:
        worker.join()
        if failed:
            raise failed[0]

    return wait


def _cells_json(answers: Sequence[Answer], places: Sequence[int] | None) -> str:
    """Each check's own cells (:func:`_own_cells`) as one JSON list of lists, one per check,
    in order: what the bulk inserts unpack on the server."""
    rows = list(map(_own_cells, answers))
    return orjson.dumps(rows if places is None else list(map(rows.__getitem__, places))).decode()


def _insert_postgresql(
    session: Executor, common: tuple[Any, ...], answers: Sequence[Answer], places: Sequence[int] | None, batch: bool
) -> tuple[list[int], Callable[[], None]]:
    """The PostgreSQL path of :func:`recording` for a big batch: the ids drawn from the
    sequence first, here, then one ``INSERT … SELECT`` that unpacks the cells (one JSON
    parameter) and pairs them with the ids on the server, to run on the DBAPI connection only
    (it may run in another thread; the driver waits on the server without Python's lock). A
    COPY would format each of 100,000 rows in Python, holding the lock."""
    ids = allocate_ids(session, CHECK, len(answers) if places is None else len(places))
    cells = _cells_json(answers, places)
    dbapi = connection_of(session).connection.dbapi_connection
    params = (*common, batch, ids, cells)

    def run() -> None:
        with dbapi.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(
                f"INSERT INTO sanction_check (id, {', '.join(_COLUMNS)}) "
                "SELECT i.id, %s, %s, %s, %s, %s, c.v ->> 0, (c.v ->> 1)::integer, c.v ->> 2, "
                "CASE WHEN json_typeof(c.v -> 3) = 'null' THEN NULL ELSE c.v -> 3 END, "
                "CASE WHEN json_typeof(c.v -> 4) = 'null' THEN NULL ELSE c.v -> 4 END, %s "
                "FROM unnest(%s::bigint[]) WITH ORDINALITY AS i (id, n) "
                "JOIN json_array_elements(%s::json) WITH ORDINALITY AS c (v, n) USING (n)",
                params,
            )

    return ids, run


def _insert_sqlite(
    session: Executor, common: tuple[Any, ...], answers: Sequence[Answer], places: Sequence[int] | None, batch: bool
) -> tuple[range, Callable[[], None]]:
    """The SQLite fast path of :func:`recording`: the checks' ids, and the statement that
    stores them, to run on the DBAPI connection only (no SQLAlchemy state: it may run in
    another thread). The write lock is taken first, here, by a write that changes nothing:
    until the transaction ends no one else can insert, so the ids after the highest one
    stored are the batch's, and the caller may use them before the rows are written. The
    statement is one ``INSERT … SELECT`` over ``json_each`` of the per-row cells (code,
    entity, decision, listings, measures), each row's id its position after the first, the
    batch's common cells bound once; SQLite unpacks the rows in C, where ``executemany``
    would bind 11 parameters a row from Python."""
    connection = connection_of(session)  # begins the session's transaction, in this thread
    to_text = CHECK.c.at.type._cached_bind_processor(connection.dialect)
    cells = _cells_json(answers, places)
    dbapi = connection.connection.dbapi_connection
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("DELETE FROM sanction_check WHERE 0")  # takes the write lock (may wait for it)
        first = int(cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM sanction_check").fetchone()[0])
    finally:
        cursor.close()
    params = (first, to_text(common[0]), *common[1:], batch, cells)
    ids = range(first, first + (len(answers) if places is None else len(places)))

    def run() -> None:
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                f"INSERT INTO sanction_check (id, {', '.join(_COLUMNS)}) SELECT ? + key, ?, ?, ?, ?, ?, "
                "value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, ? FROM json_each(?)",
                params,
            )
        finally:
            cursor.close()

    return ids, run


def check_one(*, session: Executor, principal: Principal, code: str, action: str) -> CheckResult:
    """One check, recorded with its audit event (``check.<action>``, the check id as detail):
    422 for a malformed code (nothing to record about an entity). ``session`` may be a plain
    connection: the check route runs on one (see ``Executor``). On PostgreSQL the check and
    its event are written by one statement (:data:`_AUDITED_ONE_PG`), so that on an
    autocommit connection, as the check route's are, they commit together in one round trip."""
    [result] = evaluate(session=session, codes=[code], action=action)
    if result.decision == "invalid":
        raise ValidationFailed(
            f"code: {result.code!r} is not a valid identifier ({result.reason})",
            code=result.reason or "invalid",
            errors=[FieldError("code", result.reason or "invalid", "not a valid identifier", result.code)],
        )
    audited = f"check.{action}"
    if dialect_of(session) == "postgresql":
        answer = Answer(result.code, result.decision, None, result.entity_id, None, result.listings, result.measures)
        values = _cells(_common(principal, action), answer, False)
        event = event_values(principal=principal, action=audited, target=result.code, outcome=result.decision)
        values.update({f"event_{k}": v for k, v in event.items()})
        result.check_id = int(_AUDITED_ONE_PG.scalar(connection_of(session), values))
    else:
        record(session=session, principal=principal, action=action, results=[result])
        record_event(
            session=session,
            principal=principal,
            action=audited,
            target=result.code,
            outcome=result.decision,
            detail={"check_id": result.check_id},
        )
    return result


def give_feedback(
    *, session: Session, principal: Principal, check_id: int, outcome: str, note: str | None
) -> SanctionCheck:
    """The checker reports what it did with a check (惩戒反馈). Only the principal that made
    the check may, and only once."""
    require_choice(outcome, OUTCOMES, field="outcome")
    row = session.get(SanctionCheck, check_id)
    if row is None:
        raise NotFound(f"no check with id {check_id}", code="not_found")
    if row.principal != principal.label:
        raise PermissionDenied("only the key that made a check may give feedback on it", code="not_own_check")
    if row.feedback_outcome is not None:
        raise Conflict(f"check {check_id} already has feedback ({row.feedback_outcome})", code="feedback_given")
    row.feedback_outcome, row.feedback_note, row.feedback_at = outcome, (note or "").strip() or None, clock.now()
    session.add(row)
    session.flush()
    return row


def statistics(*, session: Session, since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """Per checking party (agency code, or a bank's key) and month: checks, hits (restricted),
    feedback given, and hits without feedback."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        month = func.to_char(func.timezone("Asia/Shanghai", CHECK.c.at), "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", CHECK.c.at, "+8 hours")
    hit = CHECK.c.decision == "restricted"
    stmt = (
        select(
            CHECK.c.party,
            CHECK.c.role,
            month.label("month"),
            func.count().label("checks"),
            func.sum(case((hit, 1), else_=0)).label("hits"),
            func.sum(case((CHECK.c.feedback_outcome.is_not(None), 1), else_=0)).label("feedback"),
            func.sum(case(((hit & CHECK.c.feedback_outcome.is_(None)), 1), else_=0)).label("open_hits"),
        )
        .group_by(CHECK.c.party, CHECK.c.role, month)
        .order_by(CHECK.c.party, month)
    )
    if since:
        stmt = stmt.where(CHECK.c.at >= clock.start_of(since))
    if until:
        stmt = stmt.where(CHECK.c.at < clock.start_of(until, days=1))
    return [
        {
            "party": party,
            "role": role,
            "month": m,
            "checks": int(checks),
            "hits": int(hits or 0),
            "feedback": int(feedback or 0),
            "hits_without_feedback": int(open_hits or 0),
        }
        for party, role, m, checks, hits, feedback, open_hits in session.execute(stmt).all()
    ]
