"""Routes for the registry's own staff (admin keys) and the ``whoami`` of any key."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Admin, AnyPrincipal, SessionDep
from api.schemas import AgencyCreate, AgencyList, AgencyOut, AuditEventOut, AuditList, PrincipalOut
from registry.agencies import add_agency, list_agencies
from registry.audit import list_events, record_event
from registry.penalties import timeliness
from registry.policy import publication_policy

router = APIRouter(prefix="/api/v1", tags=["admin"])


@router.get("/whoami", response_model=PrincipalOut, summary="当前密钥身份 / who am I")
def whoami(principal: AnyPrincipal) -> PrincipalOut:
    """The role and agency the presented key stands for."""
    return PrincipalOut(
        role=principal.role, agency=principal.agency_code, key_prefix=principal.prefix, name=principal.name
    )


@router.get("/agencies", response_model=AgencyList, summary="行政机关列表 / agencies")
def get_agencies(session: SessionDep, principal: Admin) -> AgencyList:
    """Every agency (admin)."""
    rows = list_agencies(session=session)
    record_event(session=session, principal=principal, action="agency.list", outcome="ok")
    session.commit()
    return AgencyList(data=[AgencyOut.model_validate(a, from_attributes=True) for a in rows], count=len(rows))


@router.post("/agencies", response_model=AgencyOut, status_code=201, summary="新增行政机关 / add an agency")
def post_agency(body: AgencyCreate, session: SessionDep, principal: Admin) -> AgencyOut:
    """Register an agency (admin); the same agency twice is accepted, a clashing code is 409."""
    agency = add_agency(session=session, code=body.code, name=body.name, uscc=body.uscc)
    record_event(session=session, principal=principal, action="agency.add", target=agency.code, outcome="ok")
    session.commit()
    return AgencyOut.model_validate(agency, from_attributes=True)


@router.get("/audit", response_model=AuditList, summary="审计日志 / audit log")
def get_audit(
    session: SessionDep,
    principal: Admin,
    who: Annotated[
        str | None, Query(alias="principal", description="principal label, e.g. bank/key:xy_ab12cd34")
    ] = None,
    action: str | None = None,
    code: Annotated[str | None, Query(description="target code")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditList:
    """Who did or looked up what, when (admin). Reading the log is itself audited."""
    rows, total = list_events(
        session=session,
        principal=who,
        action=action,
        target=code,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    data = [AuditEventOut.model_validate(r, from_attributes=True) for r in rows]
    record_event(session=session, principal=principal, action="audit.read", outcome="ok")
    session.commit()
    return AuditList(data=data, count=total)


@router.get("/stats/timeliness", summary="双公示及时率 / on-time publication by agency and month")
def get_timeliness(
    session: SessionDep,
    principal: Admin,
    since: Annotated[date | None, Query(description="decided on or after")] = None,
    until: Annotated[date | None, Query(description="decided on or before")] = None,
) -> dict[str, Any]:
    """Per agency and month of decision: delivered, on time (within the policy's working days,
    holidays excluded), late, and the on-time share (admin, audited)."""
    data = timeliness(session=session, since=since, until=until)
    record_event(session=session, principal=principal, action="stats.timeliness", outcome="ok")
    session.commit()
    return {"data": data, "count": len(data), "deadline_working_days": publication_policy().deadline_working_days}
