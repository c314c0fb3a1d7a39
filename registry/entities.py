"""Market entities and the identifiers that name them.

An entity (organisation, individual business or natural person) is stored once, under its
USCC when it has one. Legacy identifiers (工商注册号, 组织机构代码, 税务登记号, resident IDs) are
linked to it, so a decision delivered under any of them reaches the same entity. Names are kept
over time so old names stay searchable.

Linking never merges silently: identifiers that point at two different entities, or an entity
that already holds another value of a single-valued scheme, raise :class:`Conflict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import DateTime, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from registry import clock
from registry.db import NAMING_CONVENTION  # noqa: F401  (metadata naming convention first)
from registry.errors import Conflict, FieldError, NotFound, ValidationFailed
from registry.identifiers import IdentifierCheck, check
from registry.privacy import mask_id_number

KINDS = ("organisation", "individual_business", "natural_person")
# An entity holds at most one value of these schemes; a second value is a conflict.
SINGLE_VALUED = frozenset({"uscc", "reg_no", "org_code", "resident_id"})


class Entity(SQLModel, table=True):
    """A market entity or natural person, canonical under its USCC when known."""

    __tablename__ = "entity"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    uscc: str | None = Field(default=None, max_length=18, unique=True)
    name: str = Field(max_length=512, index=True)
    region_code: str | None = Field(default=None, max_length=6)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


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
    entity_id: int = Field(foreign_key="entity.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=512, index=True)
    first_seen: date
    last_seen: date


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
    result: IdentifierCheck = check(raw, scheme)
    if not result.valid or result.normalized is None:
        shown = result.public_dict()["input"]
        name = field or scheme
        raise ValidationFailed(
            message=f"{name}: {shown!r} is not a valid {scheme}: {result.message}",
            code=result.reason or "invalid",
            errors=[FieldError(name, result.reason or "invalid", result.message or "", shown)],
        )
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


def _describe(entity: Entity) -> str:
    return f"entity #{entity.id} {entity.name!r}" + (f" (USCC {entity.uscc})" if entity.uscc else "")


def find_by_identifier(*, session: Session, ident: Ident) -> Entity | None:
    """The entity holding this identifier, if any."""
    stmt = (
        select(Entity)
        .join(EntityIdentifier, col(EntityIdentifier.entity_id) == col(Entity.id))
        .where(EntityIdentifier.scheme == ident.scheme, EntityIdentifier.value == ident.value)
    )
    return session.exec(stmt).first()


def lookup(*, session: Session, code: str) -> Entity:
    """The entity named by any identifier. Malformed codes raise :class:`ValidationFailed`
    (422 over HTTP), valid but unknown ones :class:`NotFound` (404)."""
    result = check(code)
    if not result.valid or result.scheme is None or result.normalized is None:
        shown = result.public_dict()["input"]
        raise ValidationFailed(
            message=f"code: {shown!r} is not a valid identifier: {result.message}",
            code=result.reason or "invalid",
            errors=[FieldError("code", result.reason or "invalid", result.message or "", shown)],
        )
    ident = Ident(result.scheme, result.normalized)
    entity = find_by_identifier(session=session, ident=ident)
    if entity is None:
        raise NotFound(message=f"no entity is registered under {result.scheme} {ident.shown}", code="unknown_entity")
    return entity


def identifiers_of(*, session: Session, entity_id: int) -> list[EntityIdentifier]:
    """Every identifier linked to an entity, USCC first."""
    rows = session.exec(select(EntityIdentifier).where(EntityIdentifier.entity_id == entity_id)).all()
    order = {"uscc": 0, "reg_no": 1, "org_code": 2, "tax_no": 3, "resident_id": 4}
    return sorted(rows, key=lambda r: (order.get(r.scheme, 9), r.value))


def names_of(*, session: Session, entity_id: int) -> list[EntityName]:
    """Every name an entity has been known by, newest first."""
    stmt = select(EntityName).where(EntityName.entity_id == entity_id).order_by(col(EntityName.last_seen).desc())
    return list(session.exec(stmt).all())


def _note_name(*, session: Session, entity: Entity, name: str, seen_on: date) -> None:
    assert entity.id is not None
    row = session.exec(select(EntityName).where(EntityName.entity_id == entity.id, EntityName.name == name)).first()
    if row is None:
        session.add(EntityName(entity_id=entity.id, name=name, first_seen=seen_on, last_seen=seen_on))
    else:
        row.first_seen = min(row.first_seen, seen_on)
        row.last_seen = max(row.last_seen, seen_on)
        session.add(row)
    # The current name is the one seen most recently.
    if name != entity.name:
        latest = max(names_of(session=session, entity_id=entity.id) or [], key=lambda r: r.last_seen, default=None)
        if latest is None or seen_on >= latest.last_seen:
            entity.name = name


def resolve_entity(
    *,
    session: Session,
    name: str,
    identifiers: Sequence[Ident],
    kind: str | None = None,
    seen_on: date | None = None,
) -> Entity:
    """Find the entity these identifiers name, or create it; link any identifier it lacks.

    Refuses (:class:`Conflict`) identifiers that name two different entities, and an identifier
    whose scheme the entity already holds with another value. Refuses an empty list.
    """
    name = name.strip()
    if not name:
        raise ValidationFailed(
            "name: an entity needs a name",
            code="required",
            errors=[FieldError("name", "required", "name is required")],
        )
    if not identifiers:
        raise ValidationFailed(
            "identifiers: an entity needs at least one valid identifier",
            code="required",
            errors=[FieldError("identifiers", "required", "at least one identifier is required")],
        )
    if kind is not None and kind not in KINDS:
        raise ValidationFailed(f"kind: {kind!r} is not one of {', '.join(KINDS)}", code="kind")
    seen_on = seen_on or clock.today()
    idents = list(dict.fromkeys(identifiers))
    by_scheme: dict[str, Ident] = {}
    for ident in idents:
        other = by_scheme.get(ident.scheme)
        if other is not None and ident.scheme in SINGLE_VALUED:
            raise Conflict(
                f"two different {ident.scheme} values were given for one entity: {other.shown} and {ident.shown}",
                code="identifier_conflict",
            )
        by_scheme[ident.scheme] = ident

    holders: dict[int, tuple[Entity, Ident]] = {}
    for ident in idents:
        found = find_by_identifier(session=session, ident=ident)
        if found is not None and found.id is not None:
            holders.setdefault(found.id, (found, ident))
    if len(holders) > 1:
        parts = "; ".join(
            f"{ident.scheme} {ident.shown} belongs to {_describe(ent)}" for ent, ident in holders.values()
        )
        raise Conflict(f"the identifiers name different entities: {parts}", code="identifier_conflict")

    now = clock.now()
    if holders:
        entity = next(iter(holders.values()))[0]
        assert entity.id is not None
        held = {(r.scheme, r.value) for r in identifiers_of(session=session, entity_id=entity.id)}
        held_schemes = {scheme: value for scheme, value in held}
        for ident in idents:
            if (ident.scheme, ident.value) in held:
                continue
            if ident.scheme in SINGLE_VALUED and ident.scheme in held_schemes:
                shown_old = Ident(ident.scheme, held_schemes[ident.scheme]).shown
                raise Conflict(
                    f"{_describe(entity)} already has {ident.scheme} {shown_old}; "
                    f"{ident.shown} cannot be linked to it as well",
                    code="identifier_conflict",
                )
            session.add(EntityIdentifier(entity_id=entity.id, scheme=ident.scheme, value=ident.value, created_at=now))
        if entity.uscc is None and "uscc" in by_scheme:
            entity.uscc = by_scheme["uscc"].value
            entity.region_code = entity.uscc[2:8]
    else:
        uscc = by_scheme.get("uscc")
        region = uscc.value[2:8] if uscc else (by_scheme["reg_no"].value[:6] if "reg_no" in by_scheme else None)
        entity = Entity(
            kind=kind or infer_kind(idents),
            uscc=uscc.value if uscc else None,
            name=name,
            region_code=region,
            created_at=now,
            updated_at=now,
        )
        session.add(entity)
        session.flush()
        assert entity.id is not None
        for ident in idents:
            session.add(EntityIdentifier(entity_id=entity.id, scheme=ident.scheme, value=ident.value, created_at=now))
    _note_name(session=session, entity=entity, name=name, seen_on=seen_on)
    entity.updated_at = now
    session.add(entity)
    session.flush()
    return entity


def get_entity(*, session: Session, entity_id: int) -> Entity:
    """An entity by its internal id."""
    entity = session.get(Entity, entity_id)
    if entity is None:
        raise NotFound(f"no entity with id {entity_id}", code="not_found")
    return entity
