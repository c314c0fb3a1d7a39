"""Joint sanctions through HTTP: single and batch checks for each answer and role, the CSV
loan book, feedback, statistics, the audit trail of checks, the credit report."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from api.routers import checks as checks_route
from registry import sanctions
from registry.access import Principal
from registry.identifiers import build_reg_no, build_uscc
from registry.listings import LISTING
from tests.helpers import bearer
from tests.test_blacklist import COMPANY, OTHER, _listed, deliver, listings, record

UNKNOWN = build_uscc("9", "1", "110105", "UK000001")
EARLIER = build_uscc("9", "1", "310115", "AA000009")  # sorts before COMPANY
REG_NO = build_reg_no("31011500000001")


def check(client: TestClient, key: str, code: str, action: str = "procurement") -> dict:
    response = client.post("/api/v1/checks", json={"code": code, "action": action}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


def _world(client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]) -> None:
    """COMPANY listed (repeat infringement, 2025-06-20 to 2028-06-19), also known by a 工商注册号;
    OTHER known with a non-IP decision, so clear."""
    _listed(client, keys, set_today)
    deliver(
        client,
        keys["pd"],
        record("H-1", date(2025, 6, 18), violation_type="虚假广告", reg_no=REG_NO),
        record("H-2", date(2025, 6, 18), uscc=OTHER, name="上海守信有限公司", violation_type="虚假广告"),
    )


def test_single_check_answers_for_each_decision_kind(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    _world(client, keys, set_today)
    hit = check(client, keys["pd"], COMPANY)
    assert hit["decision"] == "restricted" and hit["entity"]["uscc"] == COMPANY and hit["check_id"] > 0
    assert [m["code"] for m in hit["measures"]] == ["procurement_exclusion"]
    assert "政府采购法" in hit["measures"][0]["basis"] and hit["measures"][0]["action"] == "procurement"
    [listing] = hit["listings"]
    assert listing["rule_title"] == "重复侵权" and "发改财金〔2018〕1702号" in listing["basis"]
    assert [d["decision_no"] for d in listing["decisions"]] == ["沪市监浦处〔2024〕11号", "沪市监浦处〔2025〕66号"]
    # any identifier scheme finds the entity; a bank asks about financing
    by_reg_no = check(client, keys["bank"], REG_NO, "financing")
    assert by_reg_no["decision"] == "restricted" and by_reg_no["entity"]["uscc"] == COMPANY
    assert [m["code"] for m in by_reg_no["measures"]] == ["cautious_financing"]
    clear = check(client, keys["pd"], OTHER)
    assert clear | {"check_id": 0} == {
        "check_id": 0, "code": OTHER, "entity": {"name": "上海守信有限公司", "uscc": OTHER, "kind": "organisation"},
        "decision": "clear", "listings": [], "measures": [],
    }  # fmt: skip
    unknown = check(client, keys["pd"], UNKNOWN.lower())
    assert unknown["decision"] == "unknown_entity" and unknown["entity"] is None and unknown["code"] == UNKNOWN
    # every answer was stored, and audited, under the id it gave, whatever the decision
    trail = client.get("/api/v1/audit/checks", params={"limit": 1000}, headers=bearer(keys["admin"])).json()["data"]
    stored = {r["id"]: (r["code"], r["decision"]) for r in trail}
    for answer in (hit, by_reg_no, clear, unknown):
        assert stored[answer["check_id"]] == (answer["code"], answer["decision"])
    events = client.get("/api/v1/audit", params={"limit": 1000}, headers=bearer(keys["admin"])).json()["data"]
    audited = {e["detail"]["check_id"] for e in events if e["action"].startswith("check.") and e["detail"]}
    assert {hit["check_id"], by_reg_no["check_id"], clear["check_id"], unknown["check_id"]} <= audited
    bad = client.post(
        "/api/v1/checks", json={"code": COMPANY[:-1] + "0", "action": "bidding"}, headers=bearer(keys["pd"])
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "code"
    bad_action = client.post("/api/v1/checks", json={"code": COMPANY, "action": "lunch"}, headers=bearer(keys["pd"]))
    assert bad_action.status_code == 422 and bad_action.json()["errors"][0]["field"] == "action"
    # the listing's period over: clear again
    set_today(date(2028, 6, 20))
    assert check(client, keys["pd"], COMPANY)["decision"] == "clear"


def test_a_corrected_decision_date_shows_in_checks_at_once(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None], session: Session
) -> None:
    """A check shows each listing's decisions from the copy its links keep; an agency's
    corrected re-delivery that moves a decision's date moves it in the next answer too."""
    import importlib

    from sqlalchemy import func, select, text, update

    from registry.listings import LINK

    _world(client, keys, set_today)
    before = check(client, keys["pd"], COMPANY)["listings"][0]["decisions"]
    assert [d["decision_date"] for d in before] == ["2024-01-10", "2025-06-10"]
    assert [d["agency"] for d in before] == ["PD", "PD"]
    # the date of the first decision corrected from 2024-01-10 to 2024-01-12
    corrected = deliver(client, keys["pd"], record("沪市监浦处〔2024〕11号", date(2024, 1, 12)))
    assert corrected["updated"] == 1
    after = check(client, keys["pd"], COMPANY)["listings"][0]["decisions"]
    assert [(d["decision_no"], d["decision_date"]) for d in after] == [
        ("沪市监浦处〔2024〕11号", "2024-01-12"),
        ("沪市监浦处〔2025〕66号", "2025-06-10"),
    ]
    batch = client.post(
        "/api/v1/checks/batch", json={"codes": [COMPANY], "action": "procurement"}, headers=bearer(keys["bank"])
    ).json()
    [listing] = batch["listings"].values()
    assert [d["decision_date"] for d in listing["decisions"]] == ["2024-01-12", "2025-06-10"]
    # every link carries the copy, equal to its decision
    from registry.penalties import PENALTY

    joined = LINK.join(PENALTY, PENALTY.c.id == LINK.c.decision_id)
    differing = (
        select(func.count())
        .select_from(joined)
        .where(
            (LINK.c.decision_no.is_(None))
            | (LINK.c.decision_no != PENALTY.c.decision_no)
            | (LINK.c.agency_id != PENALTY.c.agency_id)
            | (LINK.c.decision_date != PENALTY.c.decision_date)
        )
    )
    assert session.execute(select(func.count()).select_from(LINK)).scalar_one() >= 2
    assert session.execute(differing).scalar_one() == 0
    # a registry migrated from before the copy: migration 0006 fills it from the decisions
    migration = importlib.import_module("registry.migrations.versions.0006_listing_decision_shown_fields")
    session.execute(update(LINK).values(decision_no=None, agency_id=None, decision_date=None))
    session.execute(text(migration.BACKFILL))
    assert session.execute(differing).scalar_one() == 0
    session.commit()
    assert check(client, keys["pd"], COMPANY)["listings"][0]["decisions"] == after


def test_roles_on_checks_feedback_and_audit(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    _world(client, keys, set_today)
    body = {"code": COMPANY, "action": "subsidy"}
    assert client.post("/api/v1/checks", json=body).status_code == 401
    assert client.post("/api/v1/checks", json=body, headers=bearer(keys["admin"])).status_code == 403
    agency_check = check(client, keys["pd"], COMPANY, "subsidy")["check_id"]
    bank_check = check(client, keys["bank"], COMPANY, "financing")["check_id"]
    feedback = {"outcome": "rejected", "note": "不予补贴"}
    # only the key that made the check may answer for it, once
    other_bank = client.post(f"/api/v1/checks/{agency_check}/feedback", json=feedback, headers=bearer(keys["bank"]))
    assert other_bank.status_code == 403 and other_bank.json()["code"] == "not_own_check"
    ok = client.post(f"/api/v1/checks/{agency_check}/feedback", json=feedback, headers=bearer(keys["pd"]))
    assert ok.status_code == 200 and ok.json()["outcome"] == "rejected"
    again = client.post(f"/api/v1/checks/{agency_check}/feedback", json=feedback, headers=bearer(keys["pd"]))
    assert again.status_code == 409
    wrong = client.post(
        f"/api/v1/checks/{bank_check}/feedback", json={"outcome": "maybe"}, headers=bearer(keys["bank"])
    )
    assert wrong.status_code == 422
    assert client.post("/api/v1/checks/999999/feedback", json=feedback, headers=bearer(keys["pd"])).status_code == 404
    # the audit: admins only; a bank's check is visible to the admin
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit", headers=bearer(keys["bank"])).status_code == 403
    assert client.get("/api/v1/audit/checks", headers=bearer(keys["bank"])).status_code == 403
    trail = client.get("/api/v1/audit/checks", params={"code": COMPANY}, headers=bearer(keys["admin"])).json()
    assert {(r["role"], r["action"], r["decision"]) for r in trail["data"]} == {
        ("agency", "subsidy", "restricted"), ("bank", "financing", "restricted")
    }  # fmt: skip
    events = client.get("/api/v1/audit", params={"action": "check.financing"}, headers=bearer(keys["admin"])).json()
    assert events["count"] == 1 and events["data"][0]["role"] == "bank" and events["data"][0]["target"] == COMPANY
    # statistics per party and month
    stats = client.get("/api/v1/stats/sanctions", headers=bearer(keys["admin"])).json()["data"]
    pd = next(s for s in stats if s["party"] == "PD")
    assert (pd["checks"], pd["hits"], pd["feedback"], pd["hits_without_feedback"]) == (1, 1, 1, 0)
    bank = next(s for s in stats if s["role"] == "bank")
    assert (bank["checks"], bank["hits"], bank["feedback"], bank["hits_without_feedback"]) == (1, 1, 0, 1)
    assert client.get("/api/v1/stats/sanctions", headers=bearer(keys["pd"])).status_code == 403


@pytest.mark.parametrize("in_thread_from", [1, sanctions.RECORD_IN_THREAD], ids=["stored-in-a-thread", "as-is"])
def test_batch_checks_in_input_order_with_malformed_codes_per_row(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    monkeypatch: pytest.MonkeyPatch,
    in_thread_from: int,
) -> None:
    # a batch this big is stored in a thread while the answer is written (on SQLite)
    monkeypatch.setattr(sanctions, "RECORD_IN_THREAD", in_thread_from)
    _world(client, keys, set_today)
    codes = [OTHER, "12345", COMPANY, UNKNOWN, REG_NO, "110101199003074514", f" {COMPANY.lower()} "]
    response = client.post(
        "/api/v1/checks/batch", json={"codes": codes, "action": "bidding"}, headers=bearer(keys["bank"])
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(codes)))
    assert [r["decision"] for r in results] == [
        "clear", "invalid", "restricted", "unknown_entity", "restricted", "unknown_entity", "restricted",
    ]  # fmt: skip
    assert results[1]["reason"] == "unknown_scheme" and results[1]["check_id"]
    assert "110101199003074514" not in response.text  # a resident ID is echoed masked
    assert results[2]["measures"] == ["bidding_exclusion"]
    body = response.json()
    assert body["measures"]["bidding_exclusion"]["basis"].startswith("《中华人民共和国招标投标法》")
    [listing] = [body["listings"][str(i)] for i in results[2]["listings"]]
    assert listing["rule_title"] == "重复侵权" and len(listing["decisions"]) == 2
    assert "发改财金〔2018〕1702号" in body["rules"][listing["rule"]]["basis"]
    assert "entity" not in results[3] and results[0]["entity"]["uscc"] == OTHER
    assert response.json()["summary"] == {"clear": 1, "invalid": 1, "restricted": 3, "unknown_entity": 2}
    # every answer is in the check trail under its own id, as it was answered
    trail = client.get("/api/v1/audit/checks", params={"action": "bidding"}, headers=bearer(keys["admin"])).json()
    stored = {row["id"]: row for row in trail["data"]}
    assert len({r["check_id"] for r in results}) == len(codes)
    for r in results:
        row = stored[r["check_id"]]
        assert (row["code"], row["decision"], row["batch"], row["role"]) == (r["code"], r["decision"], True, "bank")
        assert (row["listing_ids"] or []) == r.get("listings", []) and (row["measures"] or []) == r.get("measures", [])
        assert row["entity_id"] is None or r["entity"]
    # the same as a CSV loan book, answered as CSV
    upload = "统一社会信用代码,借款人\r\n" + "\r\n".join(f"{c},x" for c in codes) + "\r\n"
    answered = client.post(
        "/api/v1/checks/batch.csv",
        files={"file": ("loans.csv", upload.encode("gb18030"), "text/csv")},
        data={"action": "financing"},
        headers=bearer(keys["bank"]),
    )
    assert answered.status_code == 200 and answered.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answered.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["序号", "代码", "主体名称", "核查结果"]
    assert [r[3] for r in rows[1:]] == [
        "未发现限制",
        "代码无效",
        "应予限制",
        "登记簿无此主体",
        "应予限制",
        "登记簿无此主体",
        "应予限制",
    ]
    assert "审慎授信" in rows[3][5]
    too_many = client.post(
        "/api/v1/checks/batch", json={"codes": ["x"] * 100_001, "action": "bidding"}, headers=bearer(keys["bank"])
    )
    assert too_many.status_code == 422


def test_credit_report_json_and_html(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    _world(client, keys, set_today)
    assert client.get(f"/api/v1/entities/{COMPANY}/report").status_code == 401
    report = client.get(f"/api/v1/entities/{COMPANY}/report", headers=bearer(keys["bank"])).json()
    assert report["entity"]["uscc"] == COMPANY and report["as_of"] == "2025-06-20" and len(report["data_version"]) == 16
    assert {i["scheme"] for i in report["entity"]["identifiers"]} == {"uscc", "reg_no"}
    [listing] = report["listings"]
    assert listing["status"] == "listed" and listing["decisions"] == [
        "沪市监浦处〔2024〕11号",
        "沪市监浦处〔2025〕66号",
    ]
    assert {m["action"] for m in report["measures_in_force"]} == {
        "procurement", "bidding", "subsidy", "licensing", "inspection", "honours", "financing", "bonds", "officer",
        "ip_services",
    }  # fmt: skip
    html = client.get(f"/api/v1/entities/{REG_NO}/report", params={"format": "html"}, headers=bearer(keys["pd"]))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "公共信用信息报告" in html.text and "重复侵权" in html.text and report["data_version"] in html.text
    events = client.get("/api/v1/audit", params={"action": "report.read"}, headers=bearer(keys["admin"])).json()
    assert events["count"] == 2
    # after the listing period: history kept, no measures
    set_today(date(2028, 7, 1))
    later = client.get(f"/api/v1/entities/{COMPANY}/report", headers=bearer(keys["bank"])).json()
    assert later["listings"][0]["status"] == "ended" and later["measures_in_force"] == []


# a pool the property test draws batches from: each decision, other spellings of the same code
# (lower case, spaces, full width), a resident ID, malformed codes and non-strings
POOL = [
    COMPANY, OTHER, REG_NO, UNKNOWN, COMPANY.lower(), f" {OTHER[:6]} {OTHER[6:]} ", "９" + COMPANY[1:], REG_NO + " ",
    "110101199003074514", COMPANY[:-1] + "0", "12345", "", "x" * 80, '"quoted\\', "00000000000000000X",
    f"{COMPANY[:8]}-{COMPANY[8:]}", "9.14306E+17",
]  # fmt: skip


def _batch_payload(results: list[sanctions.CheckResult], check_ids: list[int]) -> dict:
    """The batch answer as the route built it from CheckResults before it wrote JSON per distinct answer."""
    listings: dict = {}
    rules: dict = {}
    measures: dict = {}
    out = []
    for r, check_id in zip(results, check_ids, strict=True):
        item: dict = {"index": r.index, "check_id": check_id, "code": r.code, "decision": r.decision}
        if r.entity is not None:
            item["entity"] = r.entity
        if r.reason:
            item["reason"] = r.reason
        if r.listings:
            item["listings"] = [listing["id"] for listing in r.listings]
            item["measures"] = [m.code for m in r.measures]
            for listing in r.listings:
                if str(listing["id"]) not in listings:
                    listings[str(listing["id"])] = {k: v for k, v in listing.items() if k != "basis"}
                    rules.setdefault(listing["rule"], {"title": listing["rule_title"], "basis": listing["basis"]})
            for m in r.measures:
                measures.setdefault(m.code, {"code": m.code, "name": m.name, "action": m.action, "basis": m.basis})
        out.append(item)
    counts = dict(Counter(r.decision for r in results))
    return {
        "results": out,
        "count": len(out),
        "summary": counts,
        "listings": listings,
        "rules": rules,
        "measures": measures,
    }


@pytest.mark.parametrize("failing", ["insert", "commit"])
def test_a_batch_whose_store_fails_leaves_nothing_behind(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    """The store fails (in its thread) while the answer is being written, before the checks
    are inserted or after (their commit): the error reaches the route, and neither the checks
    nor the batch's audit event, written before them, are kept."""
    _world(client, keys, set_today)
    monkeypatch.setattr(sanctions, "RECORD_IN_THREAD", 1)

    def run() -> None:
        raise RuntimeError("disk full")

    if failing == "insert":
        monkeypatch.setattr(sanctions, "_insert_sqlite", lambda *_a, **_k: (range(1, 3), run))
        monkeypatch.setattr(sanctions, "_insert_postgresql", lambda *_a, **_k: ([1, 2], run))
        monkeypatch.setattr(sanctions, "insert_with_ids", lambda *_a, **_k: run())
    else:

        def then_fail(_session: Any, insert: Callable[[], None]) -> Callable[[], None]:
            def store() -> None:
                insert()  # the checks are written, then the commit fails
                run()

            return store

        monkeypatch.setattr(sanctions, "_then_commit", then_fail)
    before = client.get("/api/v1/audit/checks", headers=bearer(keys["admin"])).json()["count"]
    events = client.get("/api/v1/audit", params={"action": "check.batch"}, headers=bearer(keys["admin"])).json()
    with pytest.raises(RuntimeError, match="disk full"):
        client.post(
            "/api/v1/checks/batch", json={"codes": [OTHER, COMPANY], "action": "bidding"}, headers=bearer(keys["bank"])
        )
    assert client.get("/api/v1/audit/checks", headers=bearer(keys["admin"])).json()["count"] == before
    again = client.get("/api/v1/audit", params={"action": "check.batch"}, headers=bearer(keys["admin"])).json()
    assert again["count"] == events["count"]
    monkeypatch.undo()
    ok = client.post(
        "/api/v1/checks/batch", json={"codes": [OTHER, COMPANY], "action": "bidding"}, headers=bearer(keys["bank"])
    )
    assert ok.status_code == 200 and [r["decision"] for r in ok.json()["results"]] == ["clear", "restricted"]


def test_batch_check_ids_are_the_stored_checks_of_their_codes_while_others_write(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch writes its answer, check ids included, while its checks are being stored
    (in a thread, the ids known before the rows are written). Another writer at
    that moment cannot take those ids: on SQLite the batch holds the write lock (a writer
    that does not wait is refused), on PostgreSQL ids come from the sequence (a check made
    then gets an id of its own). Each result's id is the stored check of its code."""
    _world(client, keys, set_today)
    monkeypatch.setattr(sanctions, "RECORD_IN_THREAD", 1)
    # the worst case: the thread has written nothing yet when the answer is written
    monkeypatch.setattr(sanctions, "_in_thread", lambda run: run)
    principal = Principal(key_id=0, prefix="other", role="bank")
    elsewhere: list[int] = []
    payload = checks_route._payload

    def meanwhile(*args: Any) -> bytes:
        with engine.connect() as other:
            if engine.dialect.name == "sqlite":
                other.exec_driver_sql("PRAGMA busy_timeout=0")
                other.commit()
                with pytest.raises((OperationalError, sqlite3.OperationalError), match="locked"), other.begin():
                    sanctions.check_one(session=other, principal=principal, code=OTHER, action="bidding")
            else:
                with other.begin():
                    result = sanctions.check_one(session=other, principal=principal, code=OTHER, action="bidding")
                elsewhere.append(result.check_id)
        return payload(*args)

    monkeypatch.setattr(checks_route, "_payload", meanwhile)
    codes = [*POOL, *POOL[:3]]
    response = client.post(
        "/api/v1/checks/batch", json={"codes": codes, "action": "bidding"}, headers=bearer(keys["bank"])
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    ids = [r["check_id"] for r in results]
    assert len(set(ids)) == len(codes) and not set(ids) & set(elsewhere)
    table = sanctions.CHECK
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.id, table.c.code, table.c.decision, table.c.listing_ids, table.c.measures).where(
                table.c.id.in_(ids)
            )
        ).all()
        # none is SQL NULL, not JSON null (which reads back as None too)
        unlisted = conn.execute(
            select(func.count()).where(table.c.id.in_(ids), table.c.listing_ids.is_(None), table.c.measures.is_(None))
        ).scalar_one()
    assert unlisted == sum(1 for r in results if not r.get("listings"))
    stored = {check_id: tuple(cells) for check_id, *cells in rows}
    assert [stored[r["check_id"]] for r in results] == [
        (r["code"][:64], r["decision"], r.get("listings"), r.get("measures")) for r in results
    ]
    assert any(r.get("listings") for r in results)  # both kinds stored: NULL and a list


def test_batch_answers_equal_single_checks_and_the_json_of_evaluate(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    session: Session,
) -> None:
    """The set-based batch path (shared answers, JSON written per distinct answer) gives each
    code the answer a check of that code alone gives, and the route's bytes are those of one
    orjson.dumps of the answer built from :func:`sanctions.evaluate`."""
    _world(client, keys, set_today)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.sampled_from(POOL), max_size=12), st.sampled_from(["bidding", "financing"]))
    def prop(codes: list[str], action: str) -> None:
        batch = sanctions.evaluate(session=session, codes=codes, action=action)
        shared = sanctions.answers(session=session, codes=codes, action=action)
        assert [r.index for r in batch] == list(range(len(codes)))
        for code, r, a in zip(codes, batch, shared, strict=True):
            [alone] = sanctions.evaluate(session=session, codes=[code], action=action)
            assert (r.code, r.decision, r.reason, r.entity, r.entity_id, r.listings, r.measures) == (
                alone.code, alone.decision, alone.reason, alone.entity, alone.entity_id, alone.listings, alone.measures,
            )  # fmt: skip
            assert (a.code, a.decision, a.reason, a.entity, a.entity_id, a.listings, a.measures) == (
                r.code, r.decision, r.reason, r.entity, r.entity_id, r.listings, r.measures,
            )  # fmt: skip
        session.rollback()

    prop()
    codes = [*POOL, *POOL[:5]]
    response = client.post(
        "/api/v1/checks/batch", json={"codes": codes, "action": "bidding"}, headers=bearer(keys["bank"])
    )
    assert response.status_code == 200, response.text
    ids = [r["check_id"] for r in response.json()["results"]]
    assert ids == list(range(ids[0], ids[0] + len(codes)))
    expected = _batch_payload(sanctions.evaluate(session=session, codes=codes, action="bidding"), ids)
    assert response.content == orjson.dumps(expected)


def test_a_big_batch_answers_each_code_as_a_check_of_it_alone(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None], session: Session
) -> None:
    """Past 64 distinct codes a batch binds its keys as one JSON list and finds USCCs in the
    entity table itself; unknown valid USCCs and truncated codes skip the full check. Each
    code still gets the answer a check of it alone gives, and the route's bytes are those of
    the answer built from :func:`sanctions.evaluate`."""
    _world(client, keys, set_today)
    # a second listed entity, whose USCC sorts before COMPANY's but comes after it in the
    # batch: the top-level listings are in the order the results first name them
    deliver(
        client,
        keys["pd"],
        record("沪市监浦处〔2025〕71号", date(2025, 1, 10), uscc=EARLIER, name="上海另一仿冒有限公司"),
        record("沪市监浦处〔2025〕72号", date(2025, 6, 15), uscc=EARLIER, name="上海另一仿冒有限公司"),
    )
    [proposal] = [p for p in listings(client, keys["admin"], "proposed") if p["uscc"] == EARLIER]
    set_today(date(2025, 6, 30))  # past the objection period
    decided = client.post(
        f"/api/v1/listings/{proposal['id']}/decide",
        json={"decision": "list", "reason": "屡犯"},
        headers=bearer(keys["admin"]),
    )
    assert decided.status_code == 200, decided.text
    unknown = [build_uscc("9", "1", "310115", f"BG{n:06d}") for n in range(90)]
    truncated = [f"9131{n:08d}"[: 8 + n % 9] for n in range(40)]  # 8 to 16 characters
    codes = [*POOL, *unknown, *truncated, EARLIER, *POOL]
    evaluated = sanctions.evaluate(session=session, codes=codes, action="financing")
    for code, result in zip(codes, evaluated, strict=True):
        [alone] = sanctions.evaluate(session=session, codes=[code], action="financing")
        assert (result.code, result.decision, result.reason, result.entity, result.listings, result.measures) == (
            alone.code, alone.decision, alone.reason, alone.entity, alone.listings, alone.measures,
        ), code  # fmt: skip
    assert Counter(r.decision for r in evaluated[len(POOL) : len(POOL) + 90]) == {"unknown_entity": 90}
    assert {r.decision for r in evaluated[len(POOL) + 90 : len(POOL) + 130]} == {"invalid"}
    assert evaluated[len(POOL) + 130].decision == "restricted"
    # a listing keeps the basis its rule had when it was made: the first listing the batch
    # names gets an older text, which its rule's description must show, not the other's
    first = next(r for r in evaluated if r.listings).listings[0]
    older = "（旧版）" + first["basis"]
    session.execute(update(LISTING).where(LISTING.c.id == first["id"]).values(basis=older))
    session.commit()
    again = sanctions.evaluate(session=session, codes=codes, action="financing")
    bases = {item["id"]: item["basis"] for r in again for item in r.listings}
    assert bases[first["id"]] == older and len(set(bases.values())) > 1  # each listing its own
    session.rollback()
    response = client.post(
        "/api/v1/checks/batch", json={"codes": codes, "action": "financing"}, headers=bearer(keys["bank"])
    )
    assert response.status_code == 200, response.text
    assert response.json()["rules"][first["rule"]]["basis"] == older
    ids = [r["check_id"] for r in response.json()["results"]]
    expected = _batch_payload(sanctions.evaluate(session=session, codes=codes, action="financing"), ids)
    assert response.content == orjson.dumps(expected)


@given(
    st.lists(
        st.fixed_dictionaries(
            {"code": st.text(), "decision": st.sampled_from(["clear", "invalid"])},
            optional={"entity": st.fixed_dictionaries({"name": st.text()}), "measures": st.lists(st.text())},
        )
    )
)
def test_batch_item_texts_are_each_items_own_json(items: list[dict]) -> None:
    """The batch route cuts one serialisation of all distinct answers apart; each piece is what
    serialising its item alone gives, whatever the strings hold (quotes, braces, ``"code":``)."""
    from api.routers.checks import _texts

    expected = [orjson.dumps(item)[len(b'{"code":') : -1] for item in items]
    assert _texts(items) == expected
    tricky = [{"code": '},{"code":', "decision": "invalid"}, {"code": 'x"},{"code":"y', "decision": "invalid"}]
    assert _texts(tricky) == [orjson.dumps(item)[len(b'{"code":') : -1] for item in tricky]
