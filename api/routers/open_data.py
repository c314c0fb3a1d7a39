"""Public lists and bulk downloads: the blacklist and open data of what is published today.

Downloads are streamed from the database (never built in memory): CSV with a BOM and Chinese
headers so a spreadsheet opens it as is, or JSON Lines. Their rows are exactly what the
paged routes list on the same day.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from api.routers.listings import public_rows
from api.schemas import ListingPublic, PenaltyPublic
from registry import clock
from registry.errors import NotFound
from registry.listings import LISTING, in_force, listing_changes
from registry.penalties import PENALTY, changes, published_on, with_agency_code

router = APIRouter(prefix="/api/v1", tags=["public"])

# (Chinese header, PenaltyPublic field) for the open-data CSV, in template order.
PENALTY_COLUMNS = [
    ("行政相对人名称", "name"), ("行政相对人类别", "party_type"), ("统一社会信用代码", "uscc"),
    ("工商注册号", "reg_no"), ("组织机构代码", "org_code"), ("证件类型", "id_type"), ("证件号码（脱敏）", "id_no"),
    ("法定代表人", "legal_rep"), ("行政处罚决定书文号", "decision_no"), ("违法行为类型", "violation_type"),
    ("违法事实", "facts"), ("处罚依据", "basis"), ("处罚类别", "penalty_types"), ("处罚内容", "content"),
    ("罚款金额（万元）", "fine_wan"), ("没收违法所得、没收非法财物的金额（万元）", "confiscated_wan"),
    ("暂扣或吊销证照名称及编号", "license_affected"), ("处罚决定日期", "decision_date"), ("处罚有效期", "valid_until"),
    ("处罚机关", "agency_name"), ("处罚机关统一社会信用代码", "agency_uscc"), ("数据来源单位", "source_name"),
    ("备注", "remarks"), ("公示截止日", "published_until"),
]  # fmt: skip
BLACKLIST_COLUMNS = [("主体名称", "name"), ("统一社会信用代码", "uscc"), ("列入规则", "rule_title"), ("依据", "basis"),
                     ("所依据的处罚决定书文号", "decisions"), ("列入日期", "listed_from"),
                     ("届满日期", "listed_until")]  # fmt: skip
PARTY_LABELS = {"organisation": "法人及非法人组织", "individual_business": "个体工商户", "natural_person": "自然人"}
ID_TYPE_LABELS = {
    "resident_id": "身份证",
    "passport": "护照",
    "hk_macao_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证",
    "foreign_perm_id": "外国人永久居留身份证",
    "other_id": "其他",
}


def _published_rows(engine: Any) -> Iterator[PenaltyPublic]:
    stmt = with_agency_code(published_on(clock.today())).execution_options(yield_per=2000)
    with Session(engine) as session:
        for row in session.execute(stmt).mappings():
            yield PenaltyPublic.from_row(row)


def _blacklist_rows(engine: Any) -> Iterator[ListingPublic]:
    stmt = in_force(day=clock.today()).execution_options(yield_per=2000)
    with Session(engine) as session, Session(engine) as lookups:
        for part in session.execute(stmt).mappings().partitions():
            yield from public_rows(lookups, part)


def _csv_value(record: Any, field: str) -> Any:
    if isinstance(record, ListingPublic):
        if field == "decisions":
            return "；".join(d.decision_no for d in record.decisions)
        value = getattr(record, field)
        return "" if value is None else value
    if field == "published_until":
        return record.publication.published_until
    value = getattr(record, field)
    if field == "party_type":
        return PARTY_LABELS.get(value, value)
    if field == "id_type":
        return ID_TYPE_LABELS.get(value, value or "")
    if field == "penalty_types":
        return "；".join(value)
    return "" if value is None else value


def _chunks(lines: Iterator[str], size: int = 500) -> Iterator[bytes]:
    """Lines joined into chunks of ``size``: a streamed body with one chunk per row is slow."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield "".join(batch).encode("utf-8")
            batch = []
    if batch:
        yield "".join(batch).encode("utf-8")


def _csv(rows: Iterator[Any], columns: list[tuple[str, str]], cell: Any) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([header for header, _ in columns])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for n, record in enumerate(rows, 1):
        writer.writerow([cell(record, field) for _, field in columns])
        if n % 500 == 0:  # a chunk per 500 rows: per-row chunks cost more than the rows
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


@router.get("/changes", summary="公示变更流 / change feed for mirrors")
def get_changes(
    request: Request,
    since: Annotated[
        date | None, Query(description="上次同步日（游标）；不填则从头开始 / the cursor: the last day synced")
    ] = None,
) -> dict[str, Any]:
    """What entered (ADD), changed (MOD) or left (DEL, with the reason) publication on each day
    after ``since`` up to today. Apply in order; then ask again with ``since`` = ``next``.
    ADD and MOD carry the public record; DEL carries the decision id."""
    today = clock.today()
    with Session(request.app.state.engine) as session:
        events = changes(session=session, since=since, until=today)
        wanted = [e["decision_id"] for e in events if e["change"] != "DEL"]
        records: dict[int, PenaltyPublic] = {}
        for start in range(0, len(wanted), 1000):
            stmt = with_agency_code(PENALTY.c.id.in_(wanted[start : start + 1000]))
            for row in session.execute(stmt).mappings():
                records[row["id"]] = PenaltyPublic.from_row(row)
        data = [
            {
                "kind": "penalty",
                "change": e["change"],
                "reason": e["reason"],
                "on": e["on"].isoformat(),
                "decision_id": e["decision_id"],
                "record": records[e["decision_id"]].model_dump(mode="json") if e["change"] != "DEL" else None,
            }
            for e in events
        ]
        data += _listing_changes(session, since, today)
    order = {"ADD": 0, "MOD": 1, "DEL": 2}
    data.sort(key=lambda e: (e["on"], order[e["change"]], e["kind"]))
    return {"since": since.isoformat() if since else None, "next": today.isoformat(), "data": data, "count": len(data)}


def _listing_changes(session: Session, since: date | None, today: date) -> list[dict[str, Any]]:
    """Blacklist entries that entered or left the published blacklist; an ADD carries the
    entry as the blacklist shows it."""
    events = listing_changes(session=session, since=since, until=today)
    added = [e["listing_id"] for e in events if e["change"] == "ADD"]
    records: dict[int, ListingPublic] = {}
    if added:
        stmt = in_force(day=today, conditions=[LISTING.c.id.in_(added)], any_day=True)
        records = {r.id: r for r in public_rows(session, session.execute(stmt).mappings().all())}
    return [
        {
            "kind": "listing",
            "change": e["change"],
            "reason": e["reason"],
            "on": e["on"].isoformat(),
            "listing_id": e["listing_id"],
            "record": records[e["listing_id"]].model_dump(mode="json") if e["change"] == "ADD" else None,
        }
        for e in events
    ]


@router.get("/open-data/{name}.{fmt}", summary="开放数据下载 / open-data download")
def open_data(
    request: Request,
    name: str = Path(description="penalties 或 blacklist"),
    fmt: str = Path(description="csv 或 jsonl"),
) -> StreamingResponse:
    """Everything published today as CSV (UTF-8 with BOM, Chinese headers) or JSON Lines."""
    if name not in ("penalties", "blacklist") or fmt not in ("csv", "jsonl"):
        raise NotFound(f"no open-data file {name}.{fmt}: penalties or blacklist, as csv or jsonl", code="not_found")
    engine = request.app.state.engine
    rows: Iterator[Any] = _published_rows(engine) if name == "penalties" else _blacklist_rows(engine)
    filename = f"{name}-{clock.today():%Y%m%d}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "jsonl":
        body = _chunks(json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n" for r in rows)
        return StreamingResponse(body, media_type="application/x-ndjson", headers=headers)
    columns = PENALTY_COLUMNS if name == "penalties" else BLACKLIST_COLUMNS
    return StreamingResponse(_csv(rows, columns, _csv_value), media_type="text/csv; charset=utf-8", headers=headers)
