"""What the public credit portal may show about an entity, and the public search.

Privacy rule: a natural person appears in public output (profile, search) only while at least
one of their penalty decisions is published; a person known only through unpublished (minor,
expired, revoked) decisions is not shown at all. Organisations and individual businesses are
public registrations and are always shown, with only their published penalties.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlmodel import Session

from registry.entities import ENTITY, Entity, EntityName, Ident, find_by_identifier, search_key
from registry.errors import FieldError, ValidationFailed
from registry.identifiers import check
from registry.penalties import PENALTY, published_on

NAME = EntityName.__table__  # type: ignore[attr-defined]


def _visible(day: date) -> Any:
    has_published = exists().where(PENALTY.c.entity_id == ENTITY.c.id, published_on(day))
    return or_(ENTITY.c.kind != "natural_person", has_published)


def is_public(*, session: Session, entity: Entity, day: date) -> bool:
    """Whether the portal may show this entity on ``day`` (see the module docstring)."""
    if entity.kind != "natural_person":
        return True
    stmt = select(literal(1)).where(PENALTY.c.entity_id == entity.id, published_on(day)).limit(1)
    return session.execute(stmt).first() is not None


@dataclass
class Hit:
    """One search result: the entity, the name that matched when it is a former name, the rank."""

    entity: Entity
    matched_name: str | None
    rank: int


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(*, session: Session, q: str, day: date, limit: int = 20, offset: int = 0) -> tuple[list[Hit], int]:
    """Entities matching ``q``: an exact identifier first, then exact names, names starting
    with ``q``, names containing it; current and former names; simplified and traditional
    characters alike. Returns a page of hits and the total."""
    text = q.strip()
    key = search_key(text)
    checked = check(text)
    exact: Entity | None = None
    if checked.valid and checked.scheme and checked.normalized:
        exact = find_by_identifier(session=session, ident=Ident(checked.scheme, checked.normalized))
    if exact is None and len(key) < 2:
        raise ValidationFailed(
            "q: give at least 2 characters of a name, or a whole identifier",
            code="query_too_short",
            errors=[FieldError("q", "query_too_short", "at least 2 characters of a name, or a whole code", q)],
        )
    rank = func.min(
        case(
            (NAME.c.search_key == key, 1),
            (NAME.c.search_key.like(_escape(key) + "%", escape="\\"), 2),
            else_=3,
        )
    ).label("rank")
    matches = (
        select(NAME.c.entity_id, rank)
        .where(NAME.c.search_key.like("%" + _escape(key) + "%", escape="\\"))
        .group_by(NAME.c.entity_id)
    )
    union: Any = matches
    if exact is not None and exact.id is not None:
        union = matches.union_all(select(literal(exact.id).label("entity_id"), literal(0).label("rank")))
    matched = union.subquery()
    best = select(matched.c.entity_id, func.min(matched.c.rank).label("rank")).group_by(matched.c.entity_id).subquery()
    base = select(ENTITY, best.c.rank).join(best, best.c.entity_id == ENTITY.c.id).where(_visible(day))
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(
        base.order_by(best.c.rank, func.length(ENTITY.c.name), ENTITY.c.id).limit(limit).offset(offset)
    ).all()
    hits = []
    for row in rows:
        entity = Entity.model_validate(dict(row._mapping))
        matched_name = None
        if row.rank >= 1 and key not in search_key(entity.name):
            matched_name = session.execute(
                select(NAME.c.name)
                .where(
                    and_(NAME.c.entity_id == entity.id, NAME.c.search_key.like("%" + _escape(key) + "%", escape="\\"))
                )
                .limit(1)
            ).scalar_one_or_none()
        hits.append(Hit(entity=entity, matched_name=matched_name, rank=int(row.rank)))
    return hits, int(total)
