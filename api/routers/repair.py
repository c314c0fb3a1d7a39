"""Credit repair applications and objections to records: filing (agency or admin, on the
entity's behalf), reading, deciding (admin) and resolving (the deciding agency or an admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import Admin, SessionDep, require
from api.schemas import ObjectionResolveIn, RecordObjectionIn, RepairDecideIn, RepairIn
from registry import repair
from registry.access import Principal
from registry.errors import PermissionDenied

router = APIRouter(prefix="/api/v1", tags=["repair"])
AgencyOrAdmin = Annotated[Principal, Depends(require("agency", "admin"))]


def _app(a: repair.RepairApplication) -> dict[str, Any]:
    return a.model_dump(mode="json")


@router.post("/repairs", status_code=201, summary="信用修复申请 / apply for credit repair (agency, admin)")
def post_repair(body: RepairIn, session: SessionDep, principal: AgencyOrAdmin) -> dict[str, Any]:
    """File an application; refused at once (409) when not eligible, with the reason and, if
    it is only too early, the date it becomes possible."""
    application = repair.apply(
        session=session,
        principal=principal,
        target=body.target,
        target_id=body.id,
        evidence=body.evidence,
        text=body.text,
    )
    session.commit()
    return _app(application)


@router.get("/repairs", summary="信用修复申请列表 / repair applications (admin)")
def get_repairs(
    session: SessionDep,
    principal: Admin,
    status: Annotated[str | None, Query(description="pending, approved, refused")] = None,
    overdue: Annotated[bool, Query(description="只看超过办理期限的待办申请 / pending past the deadline")] = False,
) -> dict[str, Any]:
    """Applications by status; ``overdue=true`` lists pending ones past their deadline."""
    items = repair.list_applications(session=session, status=status, overdue=overdue)
    return {"data": [_app(a) for a in items], "count": len(items)}


@router.get("/repairs/{application_id}", summary="信用修复申请 / one application (admin or the applicant)")
def get_repair(application_id: int, session: SessionDep, principal: AgencyOrAdmin) -> dict[str, Any]:
    """One application; an agency sees the ones it filed."""
    application = repair.get_application(session=session, application_id=application_id)
    if principal.role != "admin" and application.applicant != principal.label:
        raise PermissionDenied("an agency sees the applications it filed", code="not_own_application")
    return _app(application)


@router.post("/repairs/{application_id}/decide", summary="信用修复决定 / approve or refuse (admin)")
def post_repair_decide(
    application_id: int, body: RepairDecideIn, session: SessionDep, principal: Admin
) -> dict[str, Any]:
    """Approval ends the decision's publication or the listing at once."""
    application = repair.decide(
        session=session,
        principal=principal,
        application_id=application_id,
        decision=body.decision,
        reason=body.reason,
    )
    session.commit()
    return _app(application)


@router.post("/objections", status_code=201, summary="异议申请 / object to a record (agency, admin)")
def post_objection(body: RecordObjectionIn, session: SessionDep, principal: AgencyOrAdmin) -> dict[str, Any]:
    """The record shows "under objection" publicly while it is open."""
    objection = repair.object_to(
        session=session, principal=principal, decision_id=body.decision_id, kind=body.kind, text=body.text
    )
    session.commit()
    return objection.model_dump(mode="json")


@router.get("/objections", summary="异议列表 / objections (admin)")
def get_objections(
    session: SessionDep,
    principal: Admin,
    status: Annotated[str | None, Query(description="open, corrected, confirmed, withdrawn")] = None,
    overdue: Annotated[bool, Query(description="只看超期未处理的 / open past the deadline")] = False,
) -> dict[str, Any]:
    """Objections by status; ``overdue=true`` lists open ones past their deadline."""
    items = repair.list_objections(session=session, status=status, overdue=overdue)
    return {"data": [o.model_dump(mode="json") for o in items], "count": len(items)}


@router.post("/objections/{objection_id}/resolve", summary="异议处理 / resolve (deciding agency, admin)")
def post_resolve(
    objection_id: int, body: ObjectionResolveIn, session: SessionDep, principal: AgencyOrAdmin
) -> dict[str, Any]:
    """``corrected`` needs the corrected record delivered first (an update with history)."""
    objection = repair.resolve(
        session=session, principal=principal, objection_id=objection_id, outcome=body.outcome, note=body.note
    )
    session.commit()
    return objection.model_dump(mode="json")
