"""Agency routes for penalty decisions: file and JSON deliveries, batch reports, revocation."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Request, UploadFile
from fastapi.responses import StreamingResponse

from api.deps import AgencyPrincipal, SessionDep, require
from api.schemas import BatchSummary, JsonDelivery, RejectionList, RevokeIn, RevokeOut
from importers.pipeline import import_file, import_records
from importers.report import csv_lines
from registry.access import Principal
from registry.audit import record_event
from registry.batches import get_batch, rejections_of, summary
from registry.errors import PayloadTooLarge, PermissionDenied
from registry.penalties import revoke_decision

router = APIRouter(prefix="/api/v1", tags=["agency"])
AgencyOrAdmin = Annotated[Principal, Depends(require("agency", "admin"))]


def _limit_bytes(request: Request) -> int:
    return int(request.app.state.settings.upload_limit_mb) * 1024 * 1024


def _own_agency(principal: Principal) -> str:
    if not principal.agency_code:
        raise PermissionDenied("this route needs an agency key", code="forbidden")
    return principal.agency_code


@router.post("/imports", response_model=BatchSummary, summary="上传行政处罚数据文件 / deliver a file")
def post_import(
    request: Request, principal: AgencyPrincipal, file: Annotated[UploadFile, File(description="CSV, XLSX 或 JSON")]
) -> dict[str, Any]:
    """Deliver a 双公示 file (CSV in any common encoding, XLSX, JSON). All accepted rows commit
    together; the answer is the batch summary, the rejected rows are at
    ``/imports/{id}/rejections``."""
    limit = _limit_bytes(request)
    suffix = Path(file.filename or "upload").suffix[:8]
    with tempfile.TemporaryDirectory(prefix="xinyong-upload-") as tmp:
        target = Path(tmp) / f"delivery{suffix}"
        with target.open("wb") as out:
            copied = 0
            while block := file.file.read(1 << 20):
                copied += len(block)
                if copied > limit:
                    raise PayloadTooLarge(
                        f"the upload is larger than the limit of {limit // (1024 * 1024)} MiB "
                        "(XINYONG_UPLOAD_LIMIT_MB); "
                        "split the delivery into smaller files",
                        code="payload_too_large",
                    )
                out.write(block)
        return import_file(
            engine=request.app.state.engine,
            path=target,
            agency_code=_own_agency(principal),
            principal=principal.label,
            file_name=file.filename or target.name,
        )


@router.post("/penalties", summary="以JSON报送行政处罚 / deliver decisions as JSON")
def post_penalties(
    request: Request, principal: AgencyPrincipal, session: SessionDep, body: Annotated[JsonDelivery, Body()]
) -> dict[str, Any]:
    """Deliver ``{"records": [...]}`` with the field names of CONTRACT.md; answers the batch
    summary plus ``rejections`` (row = the record's index from 0)."""
    result = import_records(
        engine=request.app.state.engine,
        payload={"records": body.records},
        agency_code=_own_agency(principal),
        principal=principal.label,
    )
    result["rejections"] = [_rejection(r) for r in rejections_of(session=session, batch_id=result["batch_id"])]
    return result


def _rejection(r: Any) -> dict[str, Any]:
    return {
        "row": r.row,
        "field": r.field,
        "code": r.code,
        "message": f"{r.message_zh} ({r.message_en})",
        "message_zh": r.message_zh,
        "message_en": r.message_en,
        "value": r.value,
    }


def _visible_batch(session: SessionDep, principal: Principal, batch_id: int) -> Any:
    agency_id = None if principal.role == "admin" else principal.agency_id
    batch = get_batch(session=session, batch_id=batch_id, agency_id=agency_id)
    record_event(session=session, principal=principal, action="import.read", target=str(batch_id))
    session.commit()
    return batch


@router.get("/imports/{batch_id}", response_model=BatchSummary, summary="批次结果 / batch summary")
def get_import(batch_id: int, principal: AgencyOrAdmin, session: SessionDep) -> dict[str, Any]:
    """A batch's summary (the delivering agency's own, or any for admins)."""
    return summary(_visible_batch(session, principal, batch_id))


@router.get("/imports/{batch_id}/rejections", response_model=RejectionList, summary="拒收明细 / rejected rows")
def get_rejections(batch_id: int, principal: AgencyOrAdmin, session: SessionDep) -> dict[str, Any]:
    """Every rejected row with its row number, field, code and message."""
    _visible_batch(session, principal, batch_id)
    data = [_rejection(r) for r in rejections_of(session=session, batch_id=batch_id)]
    return {"batch_id": batch_id, "data": data, "count": len(data)}


@router.get("/imports/{batch_id}/rejections.csv", summary="拒收明细CSV / rejected rows as CSV")
def get_rejections_csv(batch_id: int, principal: AgencyOrAdmin, session: SessionDep) -> StreamingResponse:
    """The rejection report as CSV with a BOM (opens in Excel with Chinese intact)."""
    _visible_batch(session, principal, batch_id)
    rows = rejections_of(session=session, batch_id=batch_id)
    return StreamingResponse(
        (line.encode("utf-8") for line in csv_lines(rows)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}-rejections.csv"'},
    )


@router.post("/penalties/{decision_id}/revoke", response_model=RevokeOut, summary="撤销处罚决定 / revoke a decision")
def post_revoke(decision_id: int, body: RevokeIn, principal: AgencyPrincipal, session: SessionDep) -> RevokeOut:
    """Revoke one of the agency's own decisions (撤销 by review or court): it leaves every
    public output at once and stays in history."""
    assert principal.agency_id is not None
    decision = revoke_decision(
        session=session,
        decision_id=decision_id,
        agency_id=principal.agency_id,
        reason=body.reason,
        actor=principal.label,
    )
    record_event(
        session=session,
        principal=principal,
        action="penalty.revoke",
        target=decision.decision_no,
        detail={"decision_id": decision_id, "reason": body.reason},
    )
    session.commit()
    return RevokeOut.model_validate(decision, from_attributes=True)
