"""The credit report per entity (公共信用信息报告): what the registry holds and publishes about
an entity, stamped with the time and the data version, as JSON or a printable HTML page.

It is for agency and bank keys (a bank files it with a loan), and every read is audited. It
shows the published penalties, the whole listing history (listed entries, including ended
ones, with how they ended) and the measures in force now; personal identity numbers masked.
"""

from __future__ import annotations

import hashlib
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from api.deps import SessionDep, require
from api.routers.public import _published_penalties, _region
from registry import clock, entities, listings
from registry.access import Principal
from registry.audit import record_event
from registry.policy import sanctions_policy
from registry.privacy import public_identifier

router = APIRouter(prefix="/api/v1", tags=["sanctions"])
Reader = Annotated[Principal, Depends(require("agency", "bank", "admin"))]
STATUS_LABELS = {"listed": "列入中", "ended": "已移出"}
END_LABELS = {"expired": "期满移出", "revoked": "依据被撤销", "repaired": "信用修复"}


def _data_version(session: SessionDep) -> str:
    """A short digest of the newest change to decisions, listings, repairs and objections: two
    reports with the same version rest on the same data. Every change leaves a row with a
    higher id (a delivery's batch, a decision's history, a listing event) or a decision time
    (repairs, objections), so primary keys and small tables answer it, not a decision scan."""
    from registry.batches import ImportBatch
    from registry.penalties import HISTORY
    from registry.repair import OBJECTION, REPAIR

    batch = ImportBatch.__table__  # type: ignore[attr-defined]
    stamps = [
        select(func.max(batch.c.id)).scalar_subquery(),
        select(func.max(HISTORY.c.id)).scalar_subquery(),
        select(func.max(listings.EVENT.c.id)).scalar_subquery(),
        select(func.max(REPAIR.c.decided_at)).scalar_subquery(),
        select(func.max(REPAIR.c.id)).scalar_subquery(),
        select(func.max(OBJECTION.c.id)).scalar_subquery(),
        select(func.max(OBJECTION.c.resolved_at)).scalar_subquery(),
    ]
    stamp = session.execute(select(*stamps)).one()
    return hashlib.sha256(repr(tuple(stamp)).encode()).hexdigest()[:16]


def build_report(session: SessionDep, code: str) -> dict[str, Any]:
    """The report's content for the entity any identifier names (404 unknown, 422 malformed)."""
    entity = entities.lookup(session=session, code=code)
    assert entity.id is not None
    day = clock.today()
    history, _ = listings.list_listings(session=session, entity_id=entity.id, limit=1000)
    shown = [item for item in history if item.listed_from is not None]
    links = listings.decisions_of(session=session, listing_ids=[i.id for i in shown if i.id is not None])
    in_force = [i for i in shown if listings.is_in_force(i, day)]
    measures = [
        {"code": m.code, "name": m.name, "action": m.action, "applied_by": m.applied_by, "basis": m.basis}
        for m in sanctions_policy().measures
        if any(m.triggered_by(i.rule_id) for i in in_force)
    ]
    penalties, total = _published_penalties(session, entity_id=entity.id)
    region = _region(entity.region_code)
    return {
        "title": "公共信用信息报告",
        "generated_at": clock.now().isoformat(),
        "as_of": day.isoformat(),
        "data_version": _data_version(session),
        "entity": {
            "name": entity.name,
            "uscc": entity.uscc,
            "kind": entity.kind,
            "region": region.model_dump() if region else None,
            "identifiers": [
                {"scheme": i.scheme, "value": public_identifier(i.scheme, i.value)}
                for i in entities.identifiers_of(session=session, entity_id=entity.id)
            ],
            "former_names": [
                n.name for n in entities.names_of(session=session, entity_id=entity.id) if n.name != entity.name
            ],
        },
        "penalties": [p.model_dump(mode="json") for p in penalties],
        "penalty_count": total,
        "listings": [
            {
                "id": i.id,
                "rule": i.rule_id,
                "rule_title": i.rule_title,
                "basis": i.basis,
                "status": listings.effective_status(i, day),
                "listed_from": i.listed_from.isoformat() if i.listed_from else None,
                "listed_until": i.listed_until.isoformat() if i.listed_until else None,
                "ended_on": i.ended_on.isoformat() if i.ended_on else None,
                "end_reason": i.end_reason,
                "decisions": [d["decision_no"] for d in links[i.id or 0] if d["removed_on"] is None],
            }
            for i in shown
        ],
        "measures_in_force": measures,
    }


def _row(*cells: object) -> str:
    return "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"


def _html(report: dict[str, Any]) -> str:
    e = report["entity"]
    none = '<tr><td colspan="6">{}</td></tr>'
    rows = "".join(
        _row(
            p["decision_no"],
            p["decision_date"],
            p["agency_name"],
            p["violation_type"],
            "；".join(p["penalty_types"]),
            p["publication"]["published_until"],
        )
        for p in report["penalties"]
    ) or none.format("无公示中的行政处罚信息")
    listed = "".join(
        _row(
            i["rule_title"],
            i["listed_from"] or "",
            i["listed_until"] or "",
            " · ".join(x for x in (STATUS_LABELS.get(i["status"], i["status"]), END_LABELS.get(i["end_reason"])) if x),
            "；".join(i["decisions"]),
            i["basis"],
        )
        for i in report["listings"]
    ) or none.format("无严重失信主体名单记录")
    measures = (
        "".join(
            f"<li>{escape(m['name'])}（{escape(m['applied_by'])}）：{escape(m['basis'])}</li>"
            for m in report["measures_in_force"]
        )
        or "<li>无</li>"
    )
    idents = "".join(f"<li>{escape(i['scheme'])}: {escape(i['value'] or '')}</li>" for i in e["identifiers"])
    stamp = f"生成时间 {report['generated_at']} · 信息截至 {report['as_of']} · 数据版本 {report['data_version']}"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(report["title"])} - {escape(e["name"])}</title>
<style>body{{font-family:serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #444;padding:4px;font-size:0.9em}}</style></head>
<body><h1>{escape(report["title"])}</h1>
<p>{escape(stamp)}</p>
<h2>主体信息</h2><p>{escape(e["name"])}（{escape(e["uscc"] or "无统一社会信用代码")}）</p><ul>{idents}</ul>
<h2>行政处罚信息（公示中，共 {report["penalty_count"]} 条）</h2>
<table><tr><th>决定书文号</th><th>决定日期</th><th>处罚机关</th><th>违法行为类型</th><th>处罚类别</th><th>公示截止</th></tr>
{rows}</table>
<h2>严重失信主体名单记录</h2>
<table><tr><th>列入规则</th><th>列入日期</th><th>届满日期</th><th>状态</th><th>所依据的处罚决定</th><th>依据</th></tr>
{listed}</table>
<h2>当前适用的联合惩戒措施</h2><ul>{measures}</ul>
</body></html>"""


@router.get("/entities/{code}/report", summary="公共信用信息报告 / credit report (agency, bank, admin)")
def get_report(
    code: str,
    session: SessionDep,
    principal: Reader,
    format: Annotated[str, Query(pattern="^(json|html)$", description="json 或 html（可打印）")] = "json",
) -> Any:
    """The entity's credit report, JSON or a printable HTML page; every read is audited."""
    report = build_report(session, code)
    record_event(
        session=session,
        principal=principal,
        action="report.read",
        target=report["entity"]["uscc"] or code,
        detail={"format": format, "data_version": report["data_version"]},
    )
    session.commit()
    if format == "html":
        return HTMLResponse(_html(report))
    return report
