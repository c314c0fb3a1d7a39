"""Market entities and the identifiers that name them.

An entity (organisation, individual business or natural person) is stored once, under its
USCC when it has one. Legacy identifiers (工商注册号, 组织机构代码, 税务登记号, resident IDs) are
linked to it, so a decision delivered under any of them reaches the same entity. Names are kept
over time so old names stay searchable, and every name is cut into bigrams in
``entity_name_gram``, the index the public search walks (see :mod:`registry.portal`).

Linking never merges silently: identifiers that point at two different entities, or an entity
that already holds another value of a single-valued scheme, raise :class:`Conflict`.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import DateTime, Index, UniqueConstraint, bindparam, delete, text, update
from sqlmodel import Field, Session, SQLModel, col, select

from registry import clock
from registry.db import NAMING_CONVENTION, allocate_ids, bulk_insert, insert_plain, one_of, plain_codec  # noqa: F401
from registry.errors import Conflict, FieldError, NotFound, ValidationFailed
from registry.identifiers import require
from registry.privacy import mask_id_number

KINDS = ("organisation", "individual_business", "natural_person")
# An entity holds at most one value of these schemes; a second value is a conflict.
SINGLE_VALUED = frozenset({"uscc", "reg_no", "org_code", "resident_id"})


class Entity(SQLModel, table=True):
    """A market entity or natural person, canonical under its USCC when known."""

    __tablename__ = "entity"
    # What a check shows of an entity found by its USCC, from the index alone: a batch of
    # 100,000 codes finds some 60,000 entities this way (``registry.sanctions``), and reading
    # each one's row as well cost half as much again.
    __table_args__ = (Index("ix_entity_uscc_shown", "uscc", "id", "name", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    uscc: str | None = Field(default=None, max_length=18, unique=True)
    name: str = Field(max_length=512, index=True)
    region_code: str | None = Field(default=None, max_length=6)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


ENTITY = Entity.__table__  # type: ignore[attr-defined]


class EntityIdentifier(SQLModel, table=True):
    """One identifier of an entity. (scheme, value) is unique across the registry."""

    __tablename__ = "entity_identifier"
    __table_args__ = (UniqueConstraint("scheme", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    entity_id: int = Field(foreign_key="entity.id", index=True, ondelete="CASCADE")
    scheme: str = Field(max_length=16)
    value: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class EntityName(SQLModel, table=True):
    """A name an entity has been known by, with the first and last day it was seen."""

    __tablename__ = "entity_name"
    __table_args__ = (UniqueConstraint("entity_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    # unique (entity_id, name) also indexes entity_id
    entity_id: int = Field(foreign_key="entity.id", ondelete="CASCADE")
    name: str = Field(max_length=512)
    # The name folded for search: NFKC, traditional to simplified, lower case, no spaces.
    search_key: str = Field(max_length=512, index=True)
    first_seen: date
    last_seen: date


class EntityNameGram(SQLModel, table=True):
    """A posting of the name search index: entity ``entity_id`` has a name whose search key holds
    the two characters ``gram`` at its start (``at_start``) or further in. ``name_len`` is the
    length of the entity's *current* name, the search's tie-break, so that walking one gram's
    postings in key order yields entities already ranked (shorter name, then older id) and a
    search can stop after a page. Derived from ``entity_name``; kept in step by
    :func:`resolve_many`. One B-tree: a clustered primary key (``WITHOUT ROWID`` on SQLite)."""

    __tablename__ = "entity_name_gram"
    __table_args__ = {"sqlite_with_rowid": False}

    gram: str = Field(max_length=2, primary_key=True)
    at_start: bool = Field(primary_key=True)
    name_len: int = Field(primary_key=True)
    entity_id: int = Field(primary_key=True)


GRAM = EntityNameGram.__table__  # type: ignore[attr-defined]


def name_grams(key: str) -> set[tuple[str, bool]]:
    """The postings of one search key: each pair of adjacent characters, and whether it opens
    the key. A key shorter than two characters has none (queries need two characters)."""
    return {(key[i : i + 2], i == 0) for i in range(len(key) - 1)}


@lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=65536)
def search_key(text_in: str) -> str:
    """A name folded for matching: full-width to half-width, traditional to simplified
    characters (OpenCC), lower case, white space removed. 廣州 and 广州 fold alike."""
    folded = unicodedata.normalize("NFKC", text_in)
    return "".join(_t2s().convert(folded).lower().split())


@dataclass(frozen=True)
class Ident:
    """A validated identifier: scheme and normal form."""

    scheme: str
    value: str

    @property
    def shown(self) -> str:
        """The value as it may appear in messages (resident IDs masked)."""
        return mask_id_number(self.value) or "" if self.scheme == "resident_id" else self.value


def validated(raw: str, scheme: str, *, field: str | None = None) -> Ident:
    """Validate ``raw`` as ``scheme`` and return it as an :class:`Ident`, or raise
    :class:`ValidationFailed` naming the field, the (masked) value and the reason."""
    result = require(raw, scheme, field=field or scheme)
    assert result.normalized is not None
    return Ident(scheme, result.normalized)


def infer_kind(idents: Iterable[Ident]) -> str:
    """The kind of entity its identifiers imply: a resident ID is a person; a USCC of type
    92 or a registration number with digit 7 in 6-9 is an individual business."""
    for ident in idents:
        if ident.scheme == "resident_id":
            return "natural_person"
        if ident.scheme == "uscc" and ident.value.startswith("92"):
            return "individual_business"
        if ident.scheme == "reg_no" and ident.value[6] in "6789":
            return "individual_business"
    return "organisation"


def find_by_identifier(*, session: Session, ident: Ident) -> Entity | None:
    """The entity holding this identifier, if any."""
    stmt = (
        select(Entity)
        .join(EntityIdentifier, col(EntityIdentifier.entity_id) == col(Entity.id))
        .where(EntityIdentifier.scheme == ident.scheme, EntityIdentifier.value == ident.value)
    )
    return session.exec(stmt).first()


def code_ident(code: str) -> Ident:
    """The identifier a code given in a request names, of whatever scheme it validates as.
    Malformed codes raise :class:`ValidationFailed` (422 over HTTP)."""
    result = require(code, field="code")
    assert result.scheme is not None and result.normalized is not None
    return Ident(result.scheme, result.normalized)


def unknown_entity(ident: Ident) -> NotFound:
    """The error for a valid identifier that no entity holds (404 over HTTP)."""
    return NotFound(message=f"no entity is registered under {ident.scheme} {ident.shown}", code="unknown_entity")


def lookup(*, session: Session, code: str) -> Entity:
    """The entity named by any identifier. Malformed codes raise :class:`ValidationFailed`
    (422 over HTTP), valid but unknown ones :class:`NotFound` (404)."""
    ident = code_ident(code)
    entity = find_by_identifier(session=session, ident=ident)
    if entity is None:
        raise unknown_entity(ident)
    return entity


_SCHEME_ORDER = {"uscc": 0, "reg_no": 1, "org_code": 2, "tax_no": 3, "resident_id": 4}


def identifier_order(scheme: str, value: str) -> tuple[int, str]:
    """Sort key of an entity's identifiers as the registry shows them: USCC first, then the
    legacy schemes, other schemes last; by value within a scheme."""
    return (_SCHEME_ORDER.get(scheme, 9), value)


def identifiers_of(*, session: Session, entity_id: int) -> list[EntityIdentifier]:
    """Every identifier linked to an entity, USCC first (:func:`identifier_order`)."""
    rows = session.exec(select(EntityIdentifier).where(EntityIdentifier.entity_id == entity_id)).all()
    return sorted(rows, key=lambda r: identifier_order(r.scheme, r.value))


def names_of(*, session: Session, entity_id: int) -> list[EntityName]:
    """Every name an entity has been known by, newest first."""
    stmt = select(EntityName).where(EntityName.entity_id == entity_id).order_by(col(EntityName.last_seen).desc())
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class EntityClaim:
    """What a record says about its party: a name, identifiers, perhaps a kind, and the day
    it was true (the decision date), so names can be ordered over time."""

    name: str
    idents: tuple[Ident, ...]
    kind: str | None = None
    seen_on: date | None = None


_IN_CHUNK = 5000


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _claim_conflict(claim: EntityClaim) -> Conflict | None:
    seen: dict[str, Ident] = {}
    for ident in claim.idents:
        other = seen.get(ident.scheme)
        if other is not None and other.value != ident.value and ident.scheme in SINGLE_VALUED:
            return Conflict(
                f"two different {ident.scheme} values were given for one entity: {other.shown} and {ident.shown}",
                code="identifier_conflict",
                errors=[FieldError(ident.scheme, "identifier_conflict", "two values for one entity", ident.shown)],
            )
        seen[ident.scheme] = ident
    return None


def _owners(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Which entity holds each (scheme, value): one look-up per scheme, on the unique
    (scheme, value) index."""
    by_scheme: dict[str, list[str]] = {}
    for scheme, value in keys:
        by_scheme.setdefault(scheme, []).append(value)
    owners: dict[tuple[str, str], int] = {}
    for scheme, values in by_scheme.items():
        for part in _chunks(sorted(values)):
            stmt = select(EntityIdentifier.value, EntityIdentifier.entity_id).where(
                EntityIdentifier.scheme == scheme, one_of(session, col(EntityIdentifier.value), part)
            )
            for value, entity_id in session.exec(stmt).all():
                owners[(scheme, value)] = entity_id
    return owners


def _held(session: Session, entity_ids: set[int]) -> dict[int, dict[str, set[str]]]:
    held: dict[int, dict[str, set[str]]] = {}
    for part in _chunks(sorted(entity_ids)):
        stmt = select(EntityIdentifier.entity_id, EntityIdentifier.scheme, EntityIdentifier.value).where(
            one_of(session, col(EntityIdentifier.entity_id), part)
        )
        for entity_id, scheme, value in session.exec(stmt).all():
            held.setdefault(entity_id, {}).setdefault(scheme, set()).add(value)
    return held


class NewEntities:
    """The entities a bulk load created, as sorted runs of ids, whose search postings it builds
    once at the end (:func:`index_new_entities`) instead of chunk by chunk: one set-based
    statement over their names, in key order, rather than sorting and inserting millions of
    Python tuples into an ever larger B-tree."""

    def __init__(self) -> None:
        self.runs: list[list[int]] = []  # [first, last], ascending, not touching

    def add(self, ids: Iterable[int]) -> None:
        """Record new entity ids (in ascending order, as :func:`allocate_ids` gives them)."""
        for i in ids:
            runs = self.runs
            if runs and runs[-1][1] + 1 == i:
                runs[-1][1] = i
            elif runs and i <= runs[-1][1]:
                self._insert(i)
            else:
                runs.append([i, i])

    def _insert(self, i: int) -> None:
        if i in self:
            return
        self.runs.append([i, i])
        self.runs.sort()
        merged: list[list[int]] = []
        for run in self.runs:
            if merged and merged[-1][1] + 1 >= run[0]:
                merged[-1][1] = max(merged[-1][1], run[1])
            else:
                merged.append(run)
        self.runs = merged

    def __contains__(self, entity_id: object) -> bool:
        if not isinstance(entity_id, int):
            return False
        at = bisect_right(self.runs, entity_id, key=lambda run: run[0]) - 1
        return at >= 0 and self.runs[at][0] <= entity_id <= self.runs[at][1]

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.runs)


def resolve_many(
    *, session: Session, claims: Sequence[EntityClaim], deferred: NewEntities | None = None
) -> list[int | Conflict]:
    """Resolve or create the entity of every claim at once, set-based: one round of look-ups
    for all identifiers, bulk inserts for new entities, links and names.

    Returns, per claim and in order, the entity id or the :class:`Conflict` that refuses it
    (identifiers naming two entities, or a second value of a single-valued scheme). Claims in
    the same call that share an identifier resolve to the same entity.

    With ``deferred``, the search postings of the entities created (now or by an earlier call
    with the same ``deferred``) are left to :func:`index_new_entities`, which the caller runs
    before its transaction ends; the new entities are added to ``deferred``.
    """
    now = clock.now()
    today = clock.today()
    keys = {(i.scheme, i.value) for c in claims for i in c.idents}
    owner = _owners(session, keys)
    may_grow = {
        owner[k]
        for c in claims
        for k in ((i.scheme, i.value) for i in c.idents)
        if k in owner and any((i.scheme, i.value) not in owner for i in c.idents)
    }
    held = _held(session, may_grow)
    new_claims: list[EntityClaim] = []
    links: list[tuple[int, Ident]] = []
    uscc_links: dict[int, str] = {}
    names: dict[tuple[int, str], tuple[date, date]] = {}
    results: list[int | Conflict] = []

    for claim in claims:
        if len(claim.idents) == 1:
            # the common case, a party named by one identifier: no conflict is possible
            only = claim.idents[0]
            key = (only.scheme, only.value)
            entity_id = owner.get(key)
            if entity_id is None:
                new_claims.append(claim)
                entity_id = -len(new_claims)
                owner[key] = entity_id
                held[entity_id] = {only.scheme: {only.value}}
            seen = claim.seen_on or today
            span = names.get((entity_id, claim.name))
            names[(entity_id, claim.name)] = (min(span[0], seen), max(span[1], seen)) if span else (seen, seen)
            results.append(entity_id)
            continue
        bad = _claim_conflict(claim)
        if bad is None and not claim.idents:
            bad = Conflict("an entity needs at least one valid identifier", code="identifier_missing")
        if bad is not None:
            results.append(bad)
            continue
        ids = {owner[(i.scheme, i.value)] for i in claim.idents if (i.scheme, i.value) in owner}
        if len(ids) > 1:
            parts = "; ".join(
                f"{i.scheme} {i.shown} belongs to entity #{owner[(i.scheme, i.value)]}"
                for i in claim.idents
                if (i.scheme, i.value) in owner
            )
            first = claim.idents[0]
            results.append(
                Conflict(
                    f"the identifiers name different entities: {parts}",
                    code="identifier_conflict",
                    errors=[FieldError(first.scheme, "identifier_conflict", "identifiers name different entities")],
                )
            )
            continue
        if ids:
            entity_id = ids.pop()
        else:
            new_claims.append(claim)
            entity_id = -len(new_claims)  # a placeholder until the bulk insert gives the id
        holding = held.setdefault(entity_id, {})
        fresh = [i for i in claim.idents if (i.scheme, i.value) not in owner]
        clash = next((i for i in fresh if i.scheme in SINGLE_VALUED and holding.get(i.scheme, set()) - {i.value}), None)
        if clash is not None:
            old = Ident(clash.scheme, sorted(holding[clash.scheme])[0]).shown
            results.append(
                Conflict(
                    f"entity #{entity_id} already has {clash.scheme} {old}; "
                    f"{clash.shown} cannot be linked to it as well",
                    code="identifier_conflict",
                    errors=[
                        FieldError(clash.scheme, "identifier_conflict", f"the entity already has {old}", clash.shown)
                    ],
                )
            )
            continue
        for ident in fresh:
            owner[(ident.scheme, ident.value)] = entity_id
            holding.setdefault(ident.scheme, set()).add(ident.value)
            if entity_id > 0:
                links.append((entity_id, ident))
                if ident.scheme == "uscc":
                    uscc_links[entity_id] = ident.value
        seen = claim.seen_on or today
        first_seen, last_seen = names.get((entity_id, claim.name), (seen, seen))
        names[(entity_id, claim.name)] = (min(first_seen, seen), max(last_seen, seen))
        results.append(entity_id)

    real: dict[int, int] = {}
    fresh_names: dict[int, str] = {}  # the name each new entity is created with
    dialect = session.get_bind().dialect.name
    stamp = now if dialect == "postgresql" else _STAMP_ENCODE([now])[0]
    if new_claims:
        new_ids = allocate_ids(session, ENTITY, len(new_claims))
        rows: list[tuple[Any, ...]] = []
        for placeholder, (new_id, claim) in enumerate(zip(new_ids, new_claims, strict=True), start=1):
            # every identifier any claim of this call gave the new entity, not only the first's
            holding = held[-placeholder]
            uscc = next(iter(holding["uscc"])) if "uscc" in holding else None
            reg_no = next(iter(holding["reg_no"])) if "reg_no" in holding else None
            region = uscc[2:8] if uscc else (reg_no[:6] if reg_no else None)
            kind = claim.kind or infer_kind(claim.idents)
            rows.append((new_id, kind, uscc, claim.name, region, stamp, stamp))
            real[-placeholder] = new_id
            fresh_names[new_id] = claim.name
        insert_plain(session, ENTITY, ("id", "kind", "uscc", "name", "region_code", "created_at", "updated_at"), rows)
        if deferred is not None:
            deferred.add(new_ids)
    final = [r if isinstance(r, Conflict) else real.get(r, r) for r in results]
    link_rows = {(entity_id, ident.scheme, ident.value) for entity_id, ident in links}
    link_rows.update((real[entity_id], scheme, value) for (scheme, value), entity_id in owner.items() if entity_id < 0)
    if link_rows:
        insert_plain(
            session,
            EntityIdentifier.__table__,  # type: ignore[attr-defined]
            ("entity_id", "scheme", "value", "created_at"),
            [(e, s, v, stamp) for e, s, v in sorted(link_rows)],
        )
    if uscc_links:
        session.execute(
            update(ENTITY)
            .where(ENTITY.c.id == bindparam("eid"))
            .values(uscc=bindparam("new_uscc"), region_code=bindparam("new_region"), updated_at=now),
            [{"eid": e, "new_uscc": u, "new_region": u[2:8]} for e, u in uscc_links.items()],
        )
    if names:
        _upsert_names(
            session, {(real.get(e, e), n): span for (e, n), span in names.items()}, now, fresh_names, deferred
        )
    session.flush()
    return final


_STAMP_ENCODE = plain_codec(ENTITY, ("created_at",))[0]


def _upsert_names(
    session: Session,
    names: dict[tuple[int, str], tuple[date, date]],
    now: datetime,
    created: dict[int, str],
    deferred: NewEntities | None = None,
) -> None:
    """Record names with their first and last day seen, then make each touched entity's current
    name the one seen most recently. ``created``: the entities just created, with their name;
    ``deferred``: entities whose postings :func:`index_new_entities` builds later."""
    postgres = session.get_bind().dialect.name == "postgresql"
    # The names of entities created just now cannot be there yet: a plain insert is enough.
    insert_plain(
        session,
        EntityName.__table__,  # type: ignore[attr-defined]
        ("entity_id", "name", "search_key", "first_seen", "last_seen"),
        [
            (e, n, search_key(n), f, last) if postgres else (e, n, search_key(n), f.isoformat(), last.isoformat())
            for (e, n), (f, last) in names.items()
            if e in created
        ],
    )
    known = {key: span for key, span in names.items() if key[0] not in created}
    if known and postgres:
        # COPY into a staging table, then one set-based upsert.
        session.execute(
            text(
                "CREATE TEMP TABLE IF NOT EXISTS staging_entity_name "
                "(entity_id integer, name text, search_key text, first_seen date, last_seen date) ON COMMIT DELETE ROWS"
            )
        )
        session.execute(text("TRUNCATE staging_entity_name"))
        raw = session.connection().connection.dbapi_connection
        with raw.cursor() as cur, cur.copy("COPY staging_entity_name FROM STDIN") as copy:  # type: ignore[union-attr]
            for (entity_id, name), (first, last) in known.items():
                copy.write_row((entity_id, name, search_key(name), first, last))
        session.execute(
            text(
                "INSERT INTO entity_name (entity_id, name, search_key, first_seen, last_seen) "
                "SELECT entity_id, name, search_key, first_seen, last_seen FROM staging_entity_name "
                "ON CONFLICT (entity_id, name) DO UPDATE SET "
                "first_seen = least(entity_name.first_seen, excluded.first_seen), "
                "last_seen = greatest(entity_name.last_seen, excluded.last_seen)"
            )
        )
    elif known:
        cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(
                "INSERT INTO entity_name (entity_id, name, search_key, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (entity_id, name) DO UPDATE SET "
                "first_seen = min(entity_name.first_seen, excluded.first_seen), "
                "last_seen = max(entity_name.last_seen, excluded.last_seen)",
                [(e, n, search_key(n), f.isoformat(), last.isoformat()) for (e, n), (f, last) in known.items()],
            )
        finally:
            cursor.close()
    touched = sorted({e for e, _ in known})
    current: dict[int, str] = dict(created)
    for part in _chunks(touched):
        current.update(
            (i, n)
            for i, n in session.exec(select(Entity.id, Entity.name).where(one_of(session, col(Entity.id), part))).all()
            if i is not None
        )
    stale = sorted({e for e, n in names if current.get(e) != n})
    if stale:
        _set_current_names(session, stale, now)
    if deferred is None:
        _index_names(session, names, set(created), current, stale)
    else:
        # only the older entities whose names changed: the new ones are indexed at the end
        _index_names(session, {}, set(), current, [e for e in stale if e not in deferred])


def _set_current_names(session: Session, stale: list[int], now: datetime) -> None:
    """Make each entity's current name the one seen most recently."""
    latest = (
        select(EntityName.name)
        .where(col(EntityName.entity_id) == ENTITY.c.id)
        .order_by(col(EntityName.last_seen).desc(), col(EntityName.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    for part in _chunks(stale):
        session.execute(
            update(ENTITY).where(ENTITY.c.id.in_(part)).values(name=latest, updated_at=now),
        )


def _index_names(
    session: Session,
    names: dict[tuple[int, str], tuple[date, date]],
    created: set[int],
    before: dict[int, str],
    stale: list[int],
) -> None:
    """Postings for the names this call wrote. A new entity with one name gets that name's
    grams; an entity whose names or current name changed (``stale``) has its postings rebuilt
    from all its names, at its new current-name length. Old postings are found by their full
    key (old length from ``before``), so the index needs no second B-tree on ``entity_id``."""
    rows: set[tuple[str, bool, int, int]] = set()
    stale_set = set(stale)
    for entity_id, name in names:
        if entity_id in created and entity_id not in stale_set:
            rows.update((g, s, len(name), entity_id) for g, s in name_grams(search_key(name)))
    if stale:
        keys: dict[int, list[str]] = {}
        current: dict[int, str] = {}
        for part in _chunks(stale):
            stmt = select(EntityName.entity_id, EntityName.search_key).where(
                one_of(session, col(EntityName.entity_id), part)
            )
            for entity_id, key in session.exec(stmt).all():
                keys.setdefault(entity_id, []).append(key)
            stmt_names = select(Entity.id, Entity.name).where(one_of(session, col(Entity.id), part))
            current.update((i, n) for i, n in session.exec(stmt_names).all() if i is not None)
        gone: list[dict[str, Any]] = []
        for entity_id in stale:
            grams = set().union(*(name_grams(k) for k in keys.get(entity_id, [])))
            if entity_id not in created:
                old = len(before[entity_id])
                gone += [{"g": g, "s": s, "n": old, "e": entity_id} for g, s in grams]
            rows.update((g, s, len(current[entity_id]), entity_id) for g, s in grams)
        if gone:
            session.execute(
                delete(GRAM).where(
                    GRAM.c.gram == bindparam("g"),
                    GRAM.c.at_start == bindparam("s"),
                    GRAM.c.name_len == bindparam("n"),
                    GRAM.c.entity_id == bindparam("e"),
                ),
                gone,
            )
    if rows:
        _insert_postings(session, sorted(rows))


def _insert_postings(session: Session, rows: list[tuple[str, bool, int, int]]) -> None:
    """Postings in key order, as plain tuples on the raw cursor (``executemany`` on SQLite,
    ``COPY`` on PostgreSQL): the hot path of every import, so no per-row dicts."""
    raw = session.connection().connection.dbapi_connection
    if session.get_bind().dialect.name == "postgresql":
        copy_sql = "COPY entity_name_gram (gram, at_start, name_len, entity_id) FROM STDIN"
        with raw.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            "INSERT INTO entity_name_gram (gram, at_start, name_len, entity_id) VALUES (?, ?, ?, ?)",
            [(g, int(s), n, e) for g, s, n, e in rows],
        )
    finally:
        cursor.close()


_GRAM_SOURCE = (
    "SELECT {distinct}substr(n.search_key, s.i, 2), s.i = 1, length(e.name), n.entity_id "
    "FROM entity_name n JOIN entity e ON e.id = n.entity_id {positions} "
    "WHERE n.entity_id BETWEEN :first AND :last{range_filter}"
)
# entities per statement: bounds the sort of their postings (about 9 per name)
_INDEX_SLICE = 250_000


def index_new_entities(*, session: Session, entities: NewEntities) -> None:
    """Build the search postings of entities created with ``deferred`` (:func:`resolve_many`)
    from all their names, at their current name's length: the postings :func:`_index_names`
    would have written, in one set-based statement per slice of ids, in key order."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        sql = (
            "INSERT INTO entity_name_gram (gram, at_start, name_len, entity_id) "
            + _GRAM_SOURCE.format(
                distinct="DISTINCT ",
                positions="CROSS JOIN LATERAL generate_series(1, length(n.search_key) - 1) AS s(i)",
                range_filter="",
            )
            + " ON CONFLICT DO NOTHING"
        )
    else:
        longest = max(
            (
                session.execute(
                    text(
                        "SELECT coalesce(max(length(search_key)), 0) FROM entity_name WHERE entity_id BETWEEN :a AND :b"
                    ),
                    {"a": first, "b": last},
                ).scalar_one()
                for first, last in entities.runs
            ),
            default=0,
        )
        # positions 1..n as an indexed temp table: SQLite has no generate_series built in
        session.execute(text("CREATE TEMP TABLE IF NOT EXISTS gram_position (i INTEGER PRIMARY KEY)"))
        have = session.execute(text("SELECT coalesce(max(i), 0) FROM gram_position")).scalar_one()
        if have < longest:
            session.execute(
                text("INSERT INTO gram_position (i) VALUES (:i)"), [{"i": i} for i in range(have + 1, longest + 1)]
            )
        sql = (
            "INSERT OR IGNORE INTO entity_name_gram (gram, at_start, name_len, entity_id) "
            + _GRAM_SOURCE.format(
                distinct="", positions="CROSS JOIN gram_position s", range_filter=" AND s.i < length(n.search_key)"
            )
            + " ORDER BY 1, 2, 3, 4"
        )
    for first, last in entities.runs:
        for start in range(first, last + 1, _INDEX_SLICE):
            session.execute(text(sql), {"first": start, "last": min(last, start + _INDEX_SLICE - 1)})


def resolve_entity(
    *,
    session: Session,
    name: str,
    identifiers: Sequence[Ident],
    kind: str | None = None,
    seen_on: date | None = None,
) -> Entity:
    """Find the entity these identifiers name, or create it; link any identifier it lacks.

    The one-entity form of :func:`resolve_many`: raises its :class:`Conflict`, and
    :class:`ValidationFailed` for an empty name or identifier list or an unknown kind.
    """
    name = name.strip()
    if not name:
        raise ValidationFailed(
            "name: an entity needs a name", code="required", errors=[FieldError("name", "required", "name is required")]
        )
    if not identifiers:
        raise ValidationFailed(
            "identifiers: an entity needs at least one valid identifier",
            code="required",
            errors=[FieldError("identifiers", "required", "at least one identifier is required")],
        )
    if kind is not None and kind not in KINDS:
        raise ValidationFailed(f"kind: {kind!r} is not one of {', '.join(KINDS)}", code="kind")
    claim = EntityClaim(name=name, idents=tuple(dict.fromkeys(identifiers)), kind=kind, seen_on=seen_on)
    (result,) = resolve_many(session=session, claims=[claim])
    if isinstance(result, Conflict):
        raise result
    entity = session.get(Entity, result, populate_existing=True)
    assert entity is not None
    return entity
