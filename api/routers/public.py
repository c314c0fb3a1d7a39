"""Public routes: liveness, identifier validation, entity profiles, published penalties. No key."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from api.deps import SessionDep
from api.schemas import (
    EntityHit,
    EntityPublic,
    EntitySearch,
    IdentifierCheckOut,
    IdentifierOut,
    PenaltyList,
    PenaltyPublic,
    RegionOut,
)
from registry import clock, identifiers, listings, portal
from registry.agencies import Agency
from registry.errors import NotFound
from registry.penalties import PENALTY, published_on, with_agency_code
from registry.privacy import public_identifier
from registry.repair import repair_history

AGENCY = Agency.__table__  # type: ignore[attr-defined]

router = APIRouter()


def _region(code: str | None) -> RegionOut | None:
    """The division a stored region code names, for public output."""
    region = identifiers.region_info(code) if code else None
    return RegionOut(**region.as_dict()) if region else None


@router.get("/healthz", tags=["system"], summary="存活检查 / liveness")
def healthz() -> dict[str, str]:
    """Answers while the process is up."""
    return {"status": "ok"}


@router.get(
    "/api/v1/identifiers/{code}",
    response_model=IdentifierCheckOut,
    tags=["public"],
    summary="校验标识码 / validate an identifier",
)
def check_identifier(
    code: Annotated[str, Path(description="任意标识码：统一社会信用代码、工商注册号、组织机构代码、身份证号")],
    scheme: Annotated[
        str | None,
        Query(
            description="指定代码类型（不填则自动识别）/ force a scheme",
            pattern="^(uscc|reg_no|org_code|resident_id|tax_no)$",
        ),
    ] = None,
) -> dict[str, object]:
    """A validation service: an invalid code is a 200 with ``valid: false`` and a reason."""
    return identifiers.check(code, scheme).public_dict()


@router.get(
    "/api/v1/entities",
    response_model=EntitySearch,
    tags=["public"],
    summary="按名称或代码搜索主体 / search entities by name or code",
)
def search_entities(
    session: SessionDep,
    q: Annotated[
        str, Query(min_length=1, max_length=200, description="名称（全部或部分，简繁体均可，含曾用名）或任意代码")
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> EntitySearch:
    """Exact codes first, then exact names, names that start with ``q``, names containing it.
    ``count`` is exact up to 1,000; past that, counting stops (at 1,000 or at the end of the
    requested page) and ``count_capped`` is true."""
    page = portal.search(session=session, q=q, day=clock.today(), limit=limit, offset=offset)
    data = []
    for hit in page.hits:
        data.append(
            EntityHit(
                uscc=hit.entity.uscc,
                name=hit.entity.name,
                kind=hit.entity.kind,
                region=_region(hit.entity.region_code),
                matched_name=hit.matched_name,
                match="code" if hit.rank == 0 else ("name" if hit.rank == 1 else "partial"),
            )
        )
    return EntitySearch(data=data, count=page.count, count_capped=page.capped)


@router.get(
    "/api/v1/entities/{code}",
    response_model=EntityPublic,
    tags=["public"],
    summary="按任意标识码查询主体 / entity profile by any identifier",
    responses={404: {"description": "valid code, unknown entity"}, 422: {"description": "malformed code"}},
)
def entity_profile(code: str, session: SessionDep) -> EntityPublic:
    """Profile of the entity any of its identifiers names.

    The entity, its identifiers, names and published penalties come in one statement
    (:func:`registry.portal.read_profile`), which also says whether there is a listing in force
    or approved repairs; those are read only when there are some. Most profiles are thus one
    statement, run outside a transaction (:func:`registry.portal.without_transaction`): on
    PostgreSQL every statement, BEGIN and ROLLBACK included, is a round trip."""
    portal.without_transaction(session)
    profile = portal.read_profile(session=session, code=code, day=clock.today())
    if not profile.public:
        # a natural person with nothing published is not shown (see registry.portal)
        raise NotFound("no public record for this code", code="unknown_entity")
    return EntityPublic(
        uscc=profile.uscc,
        name=profile.name,
        kind=profile.kind,
        identifiers=[IdentifierOut(scheme=s, value=public_identifier(s, v) or "") for s, v in profile.identifiers],
        former_names=[n for n in profile.names if n != profile.name],
        region=_region(profile.region_code),
        penalties=[PenaltyPublic.from_row(r).model_dump(mode="json") for r in profile.penalties],
        listing=_current_listing(session, profile.id) if profile.listed else None,
        repairs=repair_history(session=session, entity_id=profile.id) if profile.repaired else [],
    )


def _current_listing(session: SessionDep, entity_id: int) -> dict[str, object] | None:
    """The entity's entry on the published blacklist today, as the blacklist shows it."""
    from api.routers.listings import public_rows

    rows = session.execute(listings.in_force(day=clock.today(), conditions=[listings.LISTING.c.entity_id == entity_id]))
    found = public_rows(session, rows.mappings().all())
    return found[0].model_dump(mode="json") if found else None


def _published_penalties(
    session: SessionDep,
    *,
    entity_id: int | None = None,
    agency: str | None = None,
    violation_type: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[PenaltyPublic], int]:
    """Published penalty decisions as of the registry's today, newest first, with the total."""
    conditions = [published_on(clock.today())]
    if entity_id is not None:
        conditions.append(PENALTY.c.entity_id == entity_id)
    if agency:
        conditions.append(PENALTY.c.agency_id.in_(select(AGENCY.c.id).where(AGENCY.c.code == agency)))
    if violation_type:
        conditions.append(PENALTY.c.violation_type == violation_type)
    if since:
        conditions.append(PENALTY.c.decision_date >= since)
    if until:
        conditions.append(PENALTY.c.decision_date <= until)
    stmt = with_agency_code(*conditions)
    if limit is None and not offset:  # every row is read anyway (a profile): no separate count
        rows = session.execute(stmt).mappings().all()
        return [PenaltyPublic.from_row(r) for r in rows], len(rows)
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    stmt = stmt.offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = session.execute(stmt).mappings().all()
    return [PenaltyPublic.from_row(r) for r in rows], int(total)


@router.get(
    "/api/v1/penalties",
    response_model=PenaltyList,
    tags=["public"],
    summary="公示中的行政处罚 / published penalty decisions",
)
def list_penalties(
    session: SessionDep,
    agency: Annotated[str | None, Query(description="处罚机关代码 / delivering agency code")] = None,
    violation_type: Annotated[str | None, Query(description="违法行为类型")] = None,
    since: Annotated[date | None, Query(description="处罚决定日期起 / decided on or after")] = None,
    until: Annotated[date | None, Query(description="处罚决定日期止 / decided on or before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PenaltyList:
    """Decisions published today: delivered, of a published class, inside their period, not
    revoked. Personal identity numbers are masked; legal representatives' are never shown."""
    data, count = _published_penalties(
        session, agency=agency, violation_type=violation_type, since=since, until=until, limit=limit, offset=offset
    )
    return PenaltyList(data=data, count=count)
