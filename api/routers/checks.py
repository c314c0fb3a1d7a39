"""Joint-sanction checks for agencies and banks (single, batch, CSV loan book), feedback,
statistics, the per-check audit trail, and the credit report (公共信用信息报告)."""

from __future__ import annotations

import csv
import gc
import io
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.deps import Admin, SessionDep, require
from api.schemas import BatchCheckIn, CheckIn, CheckOut, FeedbackIn
from registry import clock, sanctions
from registry.access import Principal
from registry.audit import record_event
from registry.db import checkpoint, make_check_engine, make_nonblocking_engine
from registry.errors import FieldError, ValidationFailed
from registry.privacy import redact_text

router = APIRouter(prefix="/api/v1", tags=["sanctions"])
Checker = Annotated[Principal, Depends(require("agency", "bank"))]
BATCH_LIMIT = 100_000


def _json(value: Any) -> Any:
    """Dates as ISO text, recursively (the batch answer is built without a response model)."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def _result(r: sanctions.CheckResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": r.index,
        "check_id": r.check_id,
        "code": r.code,
        "entity": r.entity,
        "decision": r.decision,
        "listings": _json(r.listings),
        "measures": [{"code": m.code, "name": m.name, "action": m.action, "basis": m.basis} for m in r.measures],
    }
    if r.reason:
        out["reason"] = r.reason
    return out


_PAUSE_LOCK = threading.Lock()
_pausing = [0, False]  # batches under way, and whether the collector was on before the first


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a batch runs (back on when the last batch
    under way ends, if it was on). A batch of 100,000 codes creates hundreds of thousands of
    objects that live until its answer is sent, and the collector would walk them, and every
    other object of the process, again and again: a third of the batch's CPU time. A batch
    creates no reference cycles to collect; reference counting frees its objects as before."""
    with _PAUSE_LOCK:
        if _pausing[0] == 0:
            _pausing[1] = gc.isenabled()
            gc.disable()
        _pausing[0] += 1
    try:
        yield
    finally:
        with _PAUSE_LOCK:
            _pausing[0] -= 1
            if _pausing[0] == 0 and _pausing[1]:
                gc.enable()


def _check(engine: Engine, principal: Principal, body: CheckIn) -> dict[str, Any]:
    """Answer, record and audit one check, and commit: the whole database part of a check, on
    one connection of the pool (see :func:`_check_on`)."""
    with engine.connect() as connection:
        return _check_on(connection, principal, body)


def _check_on(connection: Connection, principal: Principal, body: CheckIn) -> dict[str, Any]:
    """:func:`_check` on a connection the caller holds. No ORM session: its bookkeeping
    (begin, flush, commit, close) cost as much as the statements a check runs (a look-up, then
    the check and its audit event: two inserts on SQLite, one statement on PostgreSQL)."""
    with connection.begin():  # commits at the end of the block, rolls back on an error
        result = sanctions.check_one(session=connection, principal=principal, code=body.code, action=body.action)
    out = _result(result)
    out.pop("index")
    return out


CHECKPOINT_EVERY = 256  # checks answered on the event loop between two WAL checkpoints


def _nonblocking(app: Any) -> Connection | None:
    """The connection the event loop answers checks on, on the app's never-waiting SQLite
    engine (both made on first use, the connection made again should it have been closed or
    invalidated), or ``None`` (PostgreSQL). Held between checks instead of taken from a pool
    and given back each time, which cost a tenth of a check; the loop runs one check at a
    time on it, and between checks it holds no transaction."""
    state = app.state
    if not hasattr(state, "nonblocking_engine"):
        state.nonblocking_engine = make_nonblocking_engine(state.engine)
        state.checks_on_loop = 0
        state.loop_connection = None
    connection: Connection | None = state.loop_connection
    if connection is None or connection.closed or connection.invalidated:
        if state.nonblocking_engine is None:
            return None
        connection = state.loop_connection = state.nonblocking_engine.connect()
    return connection


def _locked(exc: Exception) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


@router.post("/checks", response_model=CheckOut, summary="联合惩戒核查 / check an applicant (agency, bank)")
async def post_check(request: Request, body: CheckIn, principal: Checker) -> Response:
    """``clear``, ``restricted`` (with listings and the measures for the action) or
    ``unknown_entity``; 422 for a malformed code. Recorded before the answer is returned.

    On a SQLite file the check runs on the event loop itself: its three statements and commit
    take a fraction of a millisecond, less than handing them to the thread pool and back (which
    doubled a check's cost). It runs on a connection that never waits: if another writer holds
    the database (an import, a batch), the statement fails at once and the check is done again
    in the thread pool, where it may wait. That connection never checkpoints either (a
    checkpoint writes the database file): every ``CHECKPOINT_EVERY`` checks one runs in the
    thread pool after the answer is sent. On PostgreSQL, a network round trip per statement,
    the check always runs in the thread pool, on the checks' own autocommit engine (two round
    trips; :func:`_pool_engine`). The answer, built by :func:`_result` in the
    shape of ``CheckOut``, is written with orjson."""
    app = request.app
    fast = _nonblocking(app)
    if fast is not None:
        try:
            out = _check_on(fast, principal, body)
        except (sqlite3.OperationalError, OperationalError) as exc:
            if not _locked(exc):
                raise
        else:
            app.state.checks_on_loop += 1
            background = None
            if app.state.checks_on_loop % CHECKPOINT_EVERY == 0:
                background = BackgroundTask(checkpoint, app.state.engine)
            return Response(orjson.dumps(out), media_type="application/json", background=background)
    out = await run_in_threadpool(_check, _pool_engine(app), principal, body)
    return Response(orjson.dumps(out), media_type="application/json")


def _pool_engine(app: Any) -> Engine:
    """The engine a check runs on in the thread pool: on PostgreSQL the checks' own, made on
    first use (``registry.db.make_check_engine``: autocommit, two round trips a check; with
    ``XINYONG_CHECK_COMMIT=fast`` commits that do not wait for the disk), else the app's."""
    state = app.state
    if not hasattr(state, "check_engine"):
        state.check_engine = make_check_engine(state.engine, fast=state.settings.check_commit == "fast")
    return state.check_engine or state.engine  # type: ignore[no-any-return]


Meanwhile = Callable[[sanctions.Answered, Sequence[int], dict[str, int]], Any]


def _batch(
    session: SessionDep, principal: Principal, codes: list[str], action: str, meanwhile: Meanwhile | None = None
) -> tuple[sanctions.Answered, Sequence[int], dict[str, int], Any]:
    """Answer, record and audit a batch; returns the answers (each distinct answer once, and
    its place for each code), their check ids, how many of each decision, and what
    ``meanwhile`` made of those three while the checks were being stored (work that needs no
    database: see ``sanctions.recording``)."""
    if len(codes) > BATCH_LIMIT:
        raise ValidationFailed(
            f"codes: {len(codes)} codes; a batch takes at most {BATCH_LIMIT:,}",
            code="too_many",
            errors=[FieldError("codes", "too_many", f"at most {BATCH_LIMIT}", len(codes))],
        )
    with _collector_paused():
        # no basis per listing: a batch describes each rule once (``bases``)
        answered = sanctions.answered(session=session, codes=codes, action=action, basis=False)
        distinct, places = answered.distinct, answered.places
        decisions = [a.decision for a in distinct]
        counts = dict(Counter(map(decisions.__getitem__, places)))

        def audit(ids: Sequence[int]) -> None:
            """The batch's audit event, in the transaction that stores its checks."""
            detail = {"codes": len(codes), "counts": counts, "check_ids": [ids[0], ids[-1]] if ids else [None, None]}
            record_event(session=session, principal=principal, action="check.batch", target=action, detail=detail)

        stored = sanctions.recording(
            session=session,
            principal=principal,
            action=action,
            answers=distinct,
            places=places,
            batch=True,
            before=audit,
            commit=True,
        )
        try:
            made = meanwhile(answered, stored.ids, counts) if meanwhile is not None else None
        finally:
            stored.wait()  # the session is used again only once the checks are stored
        session.commit()
    return answered, stored.ids, counts, made


def _item(
    a: sanctions.Answer,
    listings: dict[str, Any],
    rules: dict[str, Any],
    measures: dict[str, Any],
    bases: dict[str, str],
) -> dict[str, Any]:
    """One answer as a result shows it, without index and check id (``code`` first); its
    listings, rules (their basis from ``bases``) and measures are added to the top-level
    descriptions."""
    item: dict[str, Any] = {"code": a.code, "decision": a.decision}
    if a.entity is not None:
        item["entity"] = a.entity
    if a.reason:
        item["reason"] = a.reason
    if a.listings:
        item["listings"] = [listing["id"] for listing in a.listings]
        item["measures"] = [m.code for m in a.measures]
        for listing in a.listings:
            if str(listing["id"]) not in listings:
                listings[str(listing["id"])] = {k: v for k, v in listing.items() if k != "basis"}
                rules.setdefault(listing["rule"], {"title": listing["rule_title"], "basis": bases[listing["rule"]]})
        for m in a.measures:
            measures.setdefault(m.code, {"code": m.code, "name": m.name, "action": m.action, "basis": m.basis})
    return item


_CODE = b'"code":'


def _texts(items: list[dict[str, Any]]) -> list[bytes]:
    """Each item's JSON after its opening ``{"code":`` and before its closing brace, from one
    orjson call: a call per item costs several times more (each allocates a fresh buffer).
    The items are cut apart at ``},{"code":``, which occurs nowhere else: a string cannot
    hold an unescaped quote, and no list inside an item holds objects. Should a cut ever
    disagree with the count, each item is serialised alone."""
    if not items:
        return []
    blob = orjson.dumps(items)
    texts = blob[len(b"[{" + _CODE) : -len(b"}]")].split(b"},{" + _CODE)
    if len(texts) != len(items):
        return [orjson.dumps(item)[len(b"{" + _CODE) : -1] for item in items]
    return texts


def _payload(answered: sanctions.Answered, ids: Sequence[int], counts: dict[str, int]) -> bytes:
    """The batch route's JSON answer. orjson: the answer to 100,000 codes is some 20 MB of
    JSON. Each distinct answer is serialised once (:func:`_texts`) and each result written as
    its index and check id before that text: the same bytes as one orjson.dumps of the whole
    answer, without a dict per result. Dates come out as ISO text."""
    distinct, places, bases = answered
    listings: dict[str, Any] = {}
    rules: dict[str, Any] = {}
    measures: dict[str, Any] = {}
    texts = _texts([_item(a, listings, rules, measures, bases) for a in distinct])
    results = b",".join(
        [
            b'{"index":%d,"check_id":%d,"code":%b}' % (i, check_id, texts[place])
            for i, (place, check_id) in enumerate(zip(places, ids, strict=True))
        ]
    )
    rest = {"count": len(places), "summary": counts, "listings": listings, "rules": rules, "measures": measures}
    return b"".join((b'{"results":[', results, b"],", orjson.dumps(rest)[1:]))


@router.post("/checks/batch", summary="批量核查 / check up to 100,000 codes (agency, bank)")
def post_batch(body: BatchCheckIn, session: SessionDep, principal: Checker) -> Response:
    """Results in input order; a malformed code is ``invalid`` with its reason, not an error
    of the batch. Set-based: a few queries whatever the size. To keep 100,000 answers small,
    each result names its listings by id and its measures by code; ``listings`` (rule, dates,
    decision numbers), ``rules`` (title, basis) and ``measures`` at the top describe each once.
    The answer is written while the checks are being stored, and sent once they are."""
    with _collector_paused():
        answered, ids, _counts, payload = _batch(session, principal, body.codes, body.action, meanwhile=_payload)
        # freed here, by reference counting, before the collector is back: still alive when
        # it resumed, the batch's objects would be walked by its next collections
        del answered, ids
    return Response(payload, media_type="application/json")


CSV_HEADERS = ["序号", "代码", "主体名称", "核查结果", "失信名单", "惩戒措施", "措施依据", "核查编号", "无效原因"]
DECISION_LABELS = {
    "clear": "未发现限制",
    "restricted": "应予限制",
    "unknown_entity": "登记簿无此主体",
    "invalid": "代码无效",
}
CODE_COLUMNS = ("code", "代码", "统一社会信用代码", "证件号码", "uscc", "标识码")


def _codes_from_csv(data: bytes) -> list[str]:
    """The codes of an uploaded CSV: the column named like a code, else the first column."""
    from importers.readers import detect_encoding

    encoding = detect_encoding(io.BytesIO(data))
    rows = list(csv.reader(io.StringIO(data.decode(encoding))))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    column = next((i for i, h in enumerate(header) if h in CODE_COLUMNS), None)
    if column is None:  # no header: every row is a code
        return [r[0] if r else "" for r in rows]
    return [r[column] if len(r) > column else "" for r in rows[1:]]


@router.post("/checks/batch.csv", summary="上传贷款名单 CSV 批量核查 / check a CSV loan book (agency, bank)")
async def post_batch_csv(
    session: SessionDep,
    principal: Checker,
    file: Annotated[UploadFile, File(description="CSV：一列代码（列名 code/统一社会信用代码/代码，或无表头）")],
    action: Annotated[str, Form(description="审批事项 / check action")],
) -> Response:
    """The same batch check from a CSV upload; answers a CSV (UTF-8 with BOM, Chinese headers)
    with one row per input row, in order."""
    codes = _codes_from_csv(await file.read())
    # the database work of up to 100,000 codes must not hold the event loop
    answered, ids, _counts, _ = await run_in_threadpool(_batch, session, principal, codes, action)
    answers = [answered.distinct[p] for p in answered.places]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    for i, (r, check_id) in enumerate(zip(answers, ids, strict=True)):
        writer.writerow(
            [
                i + 1,
                r.code,
                (r.entity or {}).get("name", ""),
                DECISION_LABELS[r.decision],
                "；".join(
                    f"{item['rule_title']}（{item['listed_from']}至{item['listed_until']}）" for item in r.listings
                ),
                "；".join(m.name for m in r.measures),
                "；".join(m.basis for m in r.measures),
                check_id,
                r.reason or "",
            ]
        )
    return Response(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="checks-{action}.csv"'},
    )


@router.post("/checks/{check_id}/feedback", summary="惩戒反馈 / report what was done (the checker)")
def post_feedback(check_id: int, body: FeedbackIn, session: SessionDep, principal: Checker) -> dict[str, Any]:
    """Only the key that made the check may report on it, once."""
    row = sanctions.give_feedback(
        session=session, principal=principal, check_id=check_id, outcome=body.outcome, note=body.note
    )
    record_event(
        session=session, principal=principal, action="check.feedback", target=str(check_id), outcome=body.outcome
    )
    session.commit()
    return {"check_id": check_id, "outcome": row.feedback_outcome, "note": row.feedback_note, "at": row.feedback_at}


@router.get("/stats/sanctions", summary="联合惩戒统计 / checks, hits and feedback by party and month (admin)")
def get_stats(
    session: SessionDep,
    principal: Admin,
    since: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
    until: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
) -> dict[str, Any]:
    """Per checking agency (or bank key) and month: checks, hits, feedback given, hits without feedback."""
    data = sanctions.statistics(session=session, since=since, until=until)
    record_event(session=session, principal=principal, action="stats.sanctions")
    session.commit()
    return {"data": data, "count": len(data)}


@router.get("/audit/checks", summary="核查记录 / every check, with filters (admin)")
def get_check_trail(
    session: SessionDep,
    principal: Admin,
    who: Annotated[str | None, Query(alias="principal")] = None,
    code: str | None = None,
    action: str | None = None,
    since: Annotated[date | None, Query(description="YYYY-MM-DD")] = None,
    until: Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Each check as answered (single and batch), newest first: who, action, code (personal
    documents masked), decision, measures, feedback. Only admins read it."""
    table = sanctions.CHECK
    conditions: list[Any] = []
    if who:
        conditions.append(table.c.principal == who)
    if code:
        from registry.identifiers import normalize

        conditions.append(table.c.code == redact_text(normalize(code)))
    if action:
        conditions.append(table.c.action == action)
    if since:
        conditions.append(table.c.at >= clock.start_of(since))
    if until:
        conditions.append(table.c.at < clock.start_of(until, days=1))
    total = session.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()
    rows = session.execute(
        select(table).where(*conditions).order_by(table.c.id.desc()).limit(limit).offset(offset)
    ).mappings()
    data = [_json(dict(r)) for r in rows]
    record_event(session=session, principal=principal, action="audit.checks")
    session.commit()
    return {"data": data, "count": int(total)}
