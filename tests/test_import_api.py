"""Deliveries over HTTP: multipart files, JSON records, batch reports, revocation, limits."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import create_app
from registry.agencies import add_agency
from registry.audit import list_events
from registry.config import Settings
from registry.identifiers import build_uscc
from registry.penalties import PenaltyDecision, history_of
from tests.fixtures.make_fixtures import AGENCY_USCC, PERSON_ID
from tests.helpers import bearer, make_key

FIXTURES = Path(__file__).parent / "fixtures"


def setup_keys(session: Session) -> dict[str, str]:
    add_agency(session=session, code="PD", name="浦东市场监管局", uscc=AGENCY_USCC)
    add_agency(session=session, code="OTHER", name="别的机关", uscc=build_uscc("1", "1", "440000", "QT000001"))
    session.commit()
    return {
        "pd": make_key(session, "agency", "PD"),
        "other": make_key(session, "agency", "OTHER"),
        "bank": make_key(session, "bank"),
        "admin": make_key(session, "admin"),
    }


def upload(client: TestClient, key: str, name: str) -> dict:
    with (FIXTURES / name).open("rb") as fh:
        r = client.post("/api/v1/imports", files={"file": (name, fh)}, headers=bearer(key))
    assert r.status_code == 200, r.text
    return r.json()


def test_file_delivery_and_its_reports(client: TestClient, session: Session) -> None:
    keys = setup_keys(session)
    body = upload(client, keys["pd"], "mixed.csv")
    assert set(body) >= {"batch_id", "rows", "inserted", "updated", "unchanged", "rejected"}
    assert body["rows"] == body["inserted"] + body["updated"] + body["unchanged"] + body["rejected"]
    batch = body["batch_id"]
    assert client.get(f"/api/v1/imports/{batch}", headers=bearer(keys["pd"])).json()["rejected"] == body["rejected"]
    rej = client.get(f"/api/v1/imports/{batch}/rejections", headers=bearer(keys["pd"])).json()
    assert rej["count"] >= body["rejected"] and {"row", "field", "code", "message"} <= set(rej["data"][0])
    assert min(r["row"] for r in rej["data"]) >= 2  # the header is row 1
    csv_resp = client.get(f"/api/v1/imports/{batch}/rejections.csv", headers=bearer(keys["pd"]))
    assert csv_resp.status_code == 200 and csv_resp.content.startswith(b"\xef\xbb\xbf")
    assert "行号" in csv_resp.content.decode("utf-8-sig").splitlines()[0]
    assert PERSON_ID not in csv_resp.text and "110101199003074518" not in csv_resp.text
    # another agency, a bank and the public may not read it; an admin may
    assert client.get(f"/api/v1/imports/{batch}", headers=bearer(keys["other"])).status_code == 403
    assert client.get(f"/api/v1/imports/{batch}", headers=bearer(keys["bank"])).status_code == 403
    assert client.get(f"/api/v1/imports/{batch}").status_code == 401
    assert client.get(f"/api/v1/imports/{batch}", headers=bearer(keys["admin"])).status_code == 200
    assert client.get("/api/v1/imports/99999", headers=bearer(keys["pd"])).status_code == 404
    actions = {e.action for e in list_events(session=session, limit=1000)[0]}
    assert {"import", "import.read"} <= actions


def test_xlsx_upload_after_csv_upload_inserts_nothing(client: TestClient, session: Session) -> None:
    keys = setup_keys(session)
    assert upload(client, keys["pd"], "good_gb18030.csv")["inserted"] == 8
    again = upload(client, keys["pd"], "good.xlsx")
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 8)


def test_only_agency_keys_deliver(client: TestClient, session: Session) -> None:
    keys = setup_keys(session)
    for role in ("bank", "admin"):
        with (FIXTURES / "good.json").open("rb") as fh:
            r = client.post("/api/v1/imports", files={"file": ("good.json", fh)}, headers=bearer(keys[role]))
        assert r.status_code == 403
    assert client.post("/api/v1/penalties", json={"records": []}).status_code == 401


def test_json_records_with_rejections_by_index(client: TestClient, session: Session) -> None:
    import json

    keys = setup_keys(session)
    records = json.loads((FIXTURES / "good.json").read_text(encoding="utf-8"))["records"]
    bad = dict(records[2], 统一社会信用代码="91110000600037341N")
    payload = {"records": [records[0], bad, {"name": "只有名称"}]}
    r = client.post("/api/v1/penalties", json=payload, headers=bearer(keys["pd"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["inserted"], body["rejected"]) == (3, 1, 2)
    by_row = {}
    for item in body["rejections"]:
        by_row.setdefault(item["row"], set()).add((item["field"], item["code"]))
    assert ("uscc", "checksum") in by_row[1]
    assert ("decision_no", "required") in by_row[2] and ("party_type", "required") in by_row[2]


def test_json_names_work_as_well_as_chinese_headers(client: TestClient, session: Session) -> None:
    keys = setup_keys(session)
    record = {
        "name": "上海示例贸易有限公司",
        "party_type": "法人及非法人组织",
        "uscc": build_uscc("9", "1", "310115", "JT000001"),
        "decision_no": "沪市监浦处〔2024〕777号",
        "violation_type": "商标侵权",
        "facts": "事实",
        "basis": "依据",
        "penalty_types": "警告",
        "content": "警告",
        "decision_date": "2024年3月5日",
        "agency_name": "浦东",
        "agency_uscc": AGENCY_USCC,
        "source_name": "浦东",
        "source_uscc": AGENCY_USCC,
        "deliberate": "是",
    }
    body = client.post("/api/v1/penalties", json={"records": [record]}, headers=bearer(keys["pd"])).json()
    assert body["inserted"] == 1, body
    with Session(client.app.state.engine) as s:  # type: ignore[attr-defined]
        d = s.execute(select(PenaltyDecision)).scalar_one()
        assert d.deliberate is True and str(d.decision_date) == "2024-03-05"


def test_revocation_only_by_the_delivering_agency(client: TestClient, session: Session) -> None:
    keys = setup_keys(session)
    upload(client, keys["pd"], "good_utf8.csv")
    decision_id = session.execute(select(PenaltyDecision.id).limit(1)).scalar_one()
    assert (
        client.post(
            f"/api/v1/penalties/{decision_id}/revoke", json={"reason": "x"}, headers=bearer(keys["other"])
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/penalties/{decision_id}/revoke", json={"reason": ""}, headers=bearer(keys["pd"])
        ).status_code
        == 422
    )
    r = client.post(
        f"/api/v1/penalties/{decision_id}/revoke", json={"reason": "行政复议决定撤销"}, headers=bearer(keys["pd"])
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked" and r.json()["revoked_at"]
    again = client.post(f"/api/v1/penalties/{decision_id}/revoke", json={"reason": "x"}, headers=bearer(keys["pd"]))
    assert again.status_code == 409
    session.expire_all()
    (h,) = history_of(session=session, decision_id=decision_id)
    assert h.change == "revoke" and h.reason == "行政复议决定撤销"
    # a re-delivery of the same rows does not bring it back
    upload(client, keys["pd"], "good_utf8.csv")
    session.expire_all()
    assert session.get(PenaltyDecision, decision_id).status == "revoked"  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(PenaltyDecision)) == 8


def test_uploads_over_the_limit_get_413(engine: Engine, session: Session) -> None:
    keys = setup_keys(session)
    app = create_app(Settings(database_url=str(engine.url), upload_limit_mb=1), engine=engine)
    with TestClient(app) as small:
        big = b"x" * (1024 * 1024 + 10)
        r = small.post("/api/v1/imports", files={"file": ("big.csv", big)}, headers=bearer(keys["pd"]))
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
        assert "XINYONG_UPLOAD_LIMIT_MB" in r.json()["detail"]


def test_missing_columns_over_http_are_a_422_listing_them(client: TestClient, session: Session) -> None:
    keys = setup_keys(session)
    content = (FIXTURES / "good_utf8.csv").read_bytes().replace("处罚依据".encode(), "依据".encode())
    r = client.post("/api/v1/imports", files={"file": ("x.csv", content)}, headers=bearer(keys["pd"]))
    assert r.status_code == 422 and r.json()["code"] == "missing_columns"
    assert [e["field"] for e in r.json()["errors"]] == ["basis"]
