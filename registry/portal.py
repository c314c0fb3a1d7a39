"""What the public credit portal may show about an entity, and the public search.

Privacy rule: a natural person appears in public output (profile, search) only while at least
one of their penalty decisions is published; a person known only through unpublished (minor,
expired, revoked) decisions is not shown at all. Organisations and individual businesses are
public registrations and are always shown, with only their published penalties.

Search (measured in BENCHMARKS.md): names are folded to a search key (``search_key``) and cut
into bigram postings (``entity_name_gram``, kept in step where names are written). Postings are
keyed (gram, at start of a name?, length of the entity's current name, entity id), so walking
one gram's postings in key order meets entities already in result order. A search takes the
identifier match, then exact names (the ``search_key`` index), then walks the postings of the
query's rarest gram that opens a name (prefix tier) and then of its rarest gram anywhere
(contains tier), each candidate also required to hold the query's other rare grams (primary
key probes) and checked against its real names, and stops once it has a page and the count
cap. Chosen over SQLite FTS5 trigram and PostgreSQL pg_trgm because Chinese queries are often
two characters (trigrams cannot answer them), because one design serves both engines, and
because the ranking order lives in the index itself, so a query that matches 100,000 names
costs what a rare one does.

Counting is exact up to :data:`SEARCH_COUNT_CAP`; beyond it the search stops (at the cap, or at
the end of the requested page when that lies further) and reports how many it found with
``capped`` set (the portal shows "1000+").

The entity profile (:func:`read_profile`) is one statement: the entity found by any identifier,
its identifiers and names as JSON aggregates, its published decisions joined to it, and flags
that say whether a listing or a repair history is there to read. On PostgreSQL every statement
is a round trip, and the profile runs outside a transaction (:func:`without_transaction`) to
spare BEGIN and ROLLBACK; see ``api.routers.public.entity_profile``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import JSON, Date, RowMapping, and_, bindparam, exists, func, literal, select, text, tuple_
from sqlmodel import Session

from registry.agencies import Agency
from registry.db import one_of
from registry.entities import (
    ENTITY,
    GRAM,
    Entity,
    EntityIdentifier,
    EntityName,
    Ident,
    code_ident,
    find_by_identifier,
    identifier_order,
    search_key,
    unknown_entity,
)
from registry.errors import FieldError, ValidationFailed
from registry.identifiers import check
from registry.listings import LISTING, in_force_on
from registry.penalties import PENALTY, published_on, with_agency_code
from registry.repair import REPAIR

NAME = EntityName.__table__  # type: ignore[attr-defined]
IDENT = EntityIdentifier.__table__  # type: ignore[attr-defined]
AGENCY = Agency.__table__  # type: ignore[attr-defined]
SEARCH_COUNT_CAP = 1000
# Postings counted per gram to find the rarest; past this a gram is simply "common".
_PROBE = 2000
# How many of the other rare grams a candidate must also hold (each a primary-key probe).
_ALSO = 3


def without_transaction(session: Session) -> None:
    """Let a fresh session that only reads run its statements outside a transaction
    (autocommit) for the rest of its life; a session already in a transaction is left as it is.

    Why: on PostgreSQL a transaction costs two round trips of its own, BEGIN before the first
    statement and ROLLBACK when the session closes, as many as a profile's reads. Reads lose
    nothing without one: under READ COMMITTED, the default, every statement takes its own
    snapshot inside a transaction too."""
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@dataclass(frozen=True)
class ProfileData:
    """What one statement tells about an entity for its public profile: the entity's own
    columns, every identifier (``(scheme, value)``, in :func:`registry.entities.identifier_order`),
    every name it has been known by (newest first), its decisions published on the day asked
    (rows as :func:`registry.penalties.with_agency_code` gives them, newest first), and whether
    it has a listing in force that day and approved repairs, the parts read only when present."""

    id: int
    kind: str
    uscc: str | None
    name: str
    region_code: str | None
    identifiers: list[tuple[str, str]]
    names: list[str]
    penalties: list[RowMapping]
    listed: bool
    repaired: bool

    @property
    def public(self) -> bool:
        """Whether the portal may show the entity: a natural person only with something
        published (see the module docstring)."""
        return self.kind != "natural_person" or bool(self.penalties)


def _json_rows(dialect: str, *columns: Any) -> Any:
    """SQL aggregate: the group's ``columns`` as one JSON array of arrays, read back as Python
    lists (``json_agg`` on PostgreSQL, ``json_group_array`` on SQLite). NULL over no rows on
    PostgreSQL, ``[]`` on SQLite."""
    if dialect == "postgresql":
        return func.json_agg(func.json_build_array(*columns), type_=JSON)
    return func.json_group_array(func.json_array(*columns), type_=JSON)


# The profile's statement is built once and takes the day and the code as bound parameters:
# building a statement of this size and computing its cache key costs more in Python than the
# database takes to answer it. The shared conditions (``published_on``, ``in_force_on``)
# compare their day with whatever they are given, here the parameter.
_DAY = cast(date, bindparam("day", type_=Date))


@lru_cache(maxsize=4)
def _profile_statement(dialect: str) -> Any:
    """The statement behind :func:`read_profile` on ``dialect``; parameters ``scheme``,
    ``value`` (the identifier) and ``day``. One row per published decision (one row with the
    decision's columns NULL when there is none), each carrying the entity's columns, labelled
    ``profile_*``, beside the columns of :func:`registry.penalties.with_agency_code`."""
    key = IDENT.alias("key")
    owned = ENTITY.c.id
    decisions = with_agency_code()  # its columns; its join, flattened, and the conditions go below
    return (
        select(
            ENTITY.c.id.label("profile_id"),
            ENTITY.c.kind.label("profile_kind"),
            ENTITY.c.uscc.label("profile_uscc"),
            ENTITY.c.name.label("profile_name"),
            ENTITY.c.region_code.label("profile_region_code"),
            select(_json_rows(dialect, IDENT.c.scheme, IDENT.c.value))
            .where(IDENT.c.entity_id == owned)
            .scalar_subquery()
            .label("profile_identifiers"),
            select(_json_rows(dialect, NAME.c.name, NAME.c.last_seen))
            .where(NAME.c.entity_id == owned)
            .scalar_subquery()
            .label("profile_names"),
            exists().where(LISTING.c.entity_id == owned, in_force_on(_DAY)).label("profile_listed"),
            exists().where(REPAIR.c.entity_id == owned, REPAIR.c.status == "approved").label("profile_repaired"),
            *decisions.selected_columns,
        )
        # Two flat outer joins, not one to "(decision JOIN agency)": SQLite would build that
        # nested join for every published decision before joining it to the entity.
        .select_from(
            ENTITY.join(key, key.c.entity_id == ENTITY.c.id)
            .outerjoin(PENALTY, and_(PENALTY.c.entity_id == owned, published_on(_DAY)))
            .outerjoin(AGENCY, AGENCY.c.id == PENALTY.c.agency_id)
        )
        .where(key.c.scheme == bindparam("scheme"), key.c.value == bindparam("value"))
        .order_by(PENALTY.c.decision_date.desc(), PENALTY.c.id.desc())
    )


def read_profile(*, session: Session, code: str, day: date) -> ProfileData:
    """The entity any of its identifiers names, with its identifiers, names and decisions
    published on ``day``, and whether it has a listing in force or approved repairs, in one
    statement. Malformed codes raise :class:`ValidationFailed`, valid but unknown ones
    :class:`NotFound`, as :func:`registry.entities.lookup` does.

    One round trip instead of one per part: on PostgreSQL each statement costs a round trip
    to the server. Most entities have no listing and no repair, so the callers read those
    only when the flags say there is something to read."""
    ident = code_ident(code)
    stmt = _profile_statement(session.get_bind().dialect.name)
    rows = session.execute(stmt, {"scheme": ident.scheme, "value": ident.value, "day": day}).mappings().all()
    if not rows:
        raise unknown_entity(ident)
    first = rows[0]
    idents = sorted(((s, v) for s, v in first["profile_identifiers"] or []), key=lambda p: identifier_order(*p))
    # newest first, as registry.entities.names_of; names last seen on the same day by name
    names = [n for n, _ in sorted(sorted(first["profile_names"] or []), key=lambda n: n[1], reverse=True)]
    return ProfileData(
        id=first["profile_id"],
        kind=first["profile_kind"],
        uscc=first["profile_uscc"],
        name=first["profile_name"],
        region_code=first["profile_region_code"],
        identifiers=idents,
        names=names,
        penalties=[r for r in rows if r["id"] is not None],
        listed=bool(first["profile_listed"]),
        repaired=bool(first["profile_repaired"]),
    )


@dataclass
class Hit:
    """One search result: the entity, the name that matched when it is a former name, the rank."""

    entity: Entity
    matched_name: str | None
    rank: int


@dataclass
class SearchPage:
    """A page of hits; ``count`` is exact unless ``capped`` (then: more than ``count``)."""

    hits: list[Hit]
    count: int
    capped: bool


def _hidden(session: Session, ids: Sequence[int], day: date) -> set[int]:
    """Which of these entities are natural persons with nothing published on ``day``."""
    if not ids:
        return set()
    published = exists().where(PENALTY.c.entity_id == ENTITY.c.id, published_on(day))
    stmt = select(ENTITY.c.id).where(
        one_of(session, ENTITY.c.id, list(ids)), ENTITY.c.kind == "natural_person", ~published
    )
    return set(session.execute(stmt).scalars())


def _probe(session: Session, postings: list[tuple[str, bool]]) -> dict[tuple[str, bool], int]:
    """How many postings each (gram, at_start) has, counted up to ``_PROBE``: one statement."""
    columns = [
        select(func.count())
        .select_from(select(literal(1)).where(GRAM.c.gram == g, GRAM.c.at_start == s).limit(_PROBE).subquery())
        .scalar_subquery()
        for g, s in postings
    ]
    counts = session.execute(select(*columns)).one()
    return dict(zip(postings, (int(c) for c in counts), strict=True))


class _Collector:
    """Entities in result order, each once, up to ``need`` + 1 (one more tells "there are more")."""

    def __init__(self, need: int) -> None:
        self.need = need
        self.ranked: list[tuple[int, int]] = []
        self.seen: set[int] = set()

    @property
    def full(self) -> bool:
        return len(self.ranked) > self.need

    def add(self, entity_id: int, rank: int) -> None:
        if entity_id not in self.seen and not self.full:
            self.seen.add(entity_id)
            self.ranked.append((entity_id, rank))


def _walk(
    session: Session,
    out: _Collector,
    *,
    driver: tuple[str, bool],
    also: list[tuple[str, bool]],
    pattern: str | None,
    rank: int,
    day: date,
) -> None:
    """Walk the driver gram's postings in result order (current-name length, id), keeping
    entities that hold the ``also`` postings, have a name ``LIKE pattern`` and are public,
    until the collector is full or the postings end. Every test is a correlated probe of a
    primary key or unique index, evaluated by the database row by row in walk order, so a
    batch stops at its LIMIT."""
    other = GRAM.alias("other")
    conditions = [GRAM.c.gram == driver[0], GRAM.c.at_start == driver[1]]
    for g, s in also:
        conditions.append(
            exists().where(
                other.c.gram == g,
                other.c.at_start == s,
                other.c.name_len == GRAM.c.name_len,
                other.c.entity_id == GRAM.c.entity_id,
            )
        )
    if pattern is not None:
        conditions.append(
            exists().where(NAME.c.entity_id == GRAM.c.entity_id, NAME.c.search_key.like(pattern, escape="\\"))
        )
    published = exists().where(PENALTY.c.entity_id == ENTITY.c.id, published_on(day))
    conditions.append(~exists().where(ENTITY.c.id == GRAM.c.entity_id, ENTITY.c.kind == "natural_person", ~published))
    last: tuple[int, int] | None = None
    while not out.full:
        batch = out.need + 1 - len(out.ranked)
        stmt = select(GRAM.c.name_len, GRAM.c.entity_id).where(*conditions)
        if last is not None:
            stmt = stmt.where(tuple_(GRAM.c.name_len, GRAM.c.entity_id) > tuple_(literal(last[0]), literal(last[1])))
        rows = session.execute(stmt.order_by(GRAM.c.name_len, GRAM.c.entity_id).limit(batch)).all()
        for _length, entity_id in rows:
            out.add(entity_id, rank)
        if len(rows) < batch:
            return
        last = (rows[-1][0], rows[-1][1])


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _rarest(counts: dict[tuple[str, bool], int], needed: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The needed postings, rarest first, without repeats."""
    return sorted(dict.fromkeys(needed), key=lambda p: counts[p])


def search(*, session: Session, q: str, day: date, limit: int = 20, offset: int = 0) -> SearchPage:
    """Entities matching ``q``: an exact identifier first, then exact names, names starting
    with ``q``, names containing it; current and former names; simplified and traditional
    characters alike. Within a rank: shorter current name first, then the older entity.
    Returns a page of hits and the total (see :class:`SearchPage` for the cap)."""
    typed = q.strip()
    key = search_key(typed)
    checked = check(typed)
    exact: Entity | None = None
    if checked.valid and checked.scheme and checked.normalized:
        exact = find_by_identifier(session=session, ident=Ident(checked.scheme, checked.normalized))
    if exact is None and len(key) < 2:
        raise ValidationFailed(
            "q: give at least 2 characters of a name, or a whole identifier",
            code="query_too_short",
            errors=[FieldError("q", "query_too_short", "at least 2 characters of a name, or a whole code", q)],
        )
    out = _Collector(max(SEARCH_COUNT_CAP, offset + limit))
    if session.get_bind().dialect.name == "postgresql":
        # The walks stop at a LIMIT within a few thousand index entries; parallel workers cost
        # more to start (about 20 ms) than the walk itself. For this transaction only.
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    if exact is not None and exact.id is not None and not _hidden(session, [exact.id], day):
        out.add(exact.id, 0)
    if len(key) >= 2:
        # exact names: few, from the search_key index, ordered here
        stmt = (
            select(ENTITY.c.id, ENTITY.c.name)
            .where(ENTITY.c.id.in_(select(NAME.c.entity_id).where(NAME.c.search_key == key)))
            .distinct()
        )
        named = sorted(session.execute(stmt).all(), key=lambda r: (len(r[1]), r[0]))
        hidden = _hidden(session, [r[0] for r in named], day)
        for entity_id, _name in named:
            if entity_id not in hidden:
                out.add(entity_id, 1)
        grams = [key[i : i + 2] for i in range(1, len(key) - 1)]
        opening = (key[:2], True)
        inner = [(g, False) for g in [key[:2], *grams]]
        counts = _probe(session, list(dict.fromkeys([opening, *inner])))
        long_key = len(key) > 2
        prefix_needs = _rarest(counts, [opening, *[(g, False) for g in grams]])
        if counts[prefix_needs[0]] and not out.full:
            _walk(
                session, out, driver=prefix_needs[0], also=prefix_needs[1 : 1 + _ALSO],
                pattern=_escape(key) + "%" if long_key else None, rank=2, day=day,
            )  # fmt: skip
        contains_needs = _rarest(counts, inner)
        if counts[contains_needs[0]] and not out.full:
            _walk(
                session, out, driver=contains_needs[0], also=contains_needs[1 : 1 + _ALSO],
                pattern="%" + _escape(key) + "%" if long_key else None, rank=3, day=day,
            )  # fmt: skip
    exhausted = not out.full
    ranked = out.ranked[: out.need]
    page = ranked[offset : offset + limit]
    found: dict[int, Entity] = {}
    if page:
        for row in session.execute(select(ENTITY).where(one_of(session, ENTITY.c.id, [i for i, _ in page]))).all():
            found[row.id] = Entity.model_validate(dict(row._mapping))
    # a former name that matched, for hits whose current name does not hold the query
    formerly = [e for e, rank in page if rank >= 1 and key not in search_key(found[e].name)]
    matched: dict[int, str] = {}
    if formerly:
        stmt = select(NAME.c.entity_id, NAME.c.name, NAME.c.search_key).where(
            one_of(session, NAME.c.entity_id, formerly)
        )
        for entity_id, name, name_key in session.execute(stmt.order_by(NAME.c.id)).all():
            if key in name_key:
                matched.setdefault(entity_id, name)
    hits = [Hit(entity=found[e], matched_name=matched.get(e), rank=rank) for e, rank in page]
    return SearchPage(hits=hits, count=len(ranked), capped=not exhausted)
