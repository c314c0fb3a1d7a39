"""Open-data downloads match the published list; the blacklist is public (empty until the
blacklist rules land); the timeliness statistic counts working days with official holidays."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from importers.pipeline import import_file
from registry.agencies import add_agency
from registry.identifiers import build_uscc
from tests.fixtures.make_fixtures import AGENCY_USCC, PERSON_ID, _legal_rep_id
from tests.helpers import bearer, make_key

FIXTURES = Path(__file__).parent / "fixtures"


def deliver(engine: Engine, session: Session, set_today: Callable[[date], None]) -> None:
    set_today(date(2025, 2, 1))
    add_agency(session=session, code="PD", name="浦东", uscc=AGENCY_USCC)
    session.commit()
    import_file(engine=engine, path=FIXTURES / "good.xlsx", agency_code="PD", principal="t")


def test_open_data_csv_opens_in_a_spreadsheet_and_matches_the_list(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    deliver(engine, session, set_today)
    total = client.get("/api/v1/penalties").json()["count"]
    r = client.get("/api/v1/open-data/penalties.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["行政相对人名称", "行政相对人类别", "统一社会信用代码"]
    assert len(rows) - 1 == total == 6
    assert PERSON_ID not in r.text and _legal_rep_id() not in r.text
    lines = client.get("/api/v1/open-data/penalties.jsonl").text.splitlines()
    assert len(lines) == total and {json.loads(x)["decision_no"] for x in lines} == {
        d["decision_no"] for d in client.get("/api/v1/penalties").json()["data"]
    }
    assert client.get("/api/v1/open-data/secrets.csv").status_code == 404
    assert client.get("/api/v1/open-data/penalties.xml").status_code == 404


def test_the_blacklist_is_public_and_empty_until_listings_exist(client: TestClient) -> None:
    assert client.get("/api/v1/blacklist").json() == {"data": [], "count": 0}
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/open-data/blacklist.csv").content.decode("utf-8-sig"))))
    assert rows == [
        ["主体名称", "统一社会信用代码", "列入规则", "依据", "所依据的处罚决定书文号", "列入日期", "届满日期"]
    ]
    assert client.get("/api/v1/open-data/blacklist.jsonl").text == ""


def record(number: str, decided: date) -> dict[str, str]:
    return {
        "name": "上海示例贸易有限公司", "party_type": "法人及非法人组织",
        "uscc": build_uscc("9", "1", "310115", "TM000001"),
        "decision_no": number, "violation_type": "商标侵权", "facts": "事实", "basis": "依据", "penalty_types": "罚款",
        "fine_wan": "1", "content": "罚款一万元", "decision_date": decided.isoformat(), "agency_name": "浦东",
        "agency_uscc": AGENCY_USCC, "source_name": "浦东", "source_uscc": AGENCY_USCC,
    }  # fmt: skip


def test_timeliness_counts_working_days_across_the_spring_festival(
    client: TestClient, session: Session, set_today: Callable[[date], None]
) -> None:
    add_agency(session=session, code="PD", name="浦东", uscc=AGENCY_USCC)
    session.commit()
    agency, admin = make_key(session, "agency", "PD"), make_key(session, "admin")
    decided = date(2026, 2, 13)  # Friday before the 2026 Spring Festival: 7 working days end on 2026-03-02
    for today, number in ((date(2026, 3, 2), "A1"), (date(2026, 3, 3), "A2"), (date(2026, 2, 24), "A3")):
        set_today(today)
        body = client.post(
            "/api/v1/penalties", json={"records": [record(number, decided)]}, headers=bearer(agency)
        ).json()
        assert body["inserted"] == 1, body
    stats = client.get("/api/v1/stats/timeliness", headers=bearer(admin)).json()
    assert stats["deadline_working_days"] == 7
    assert stats["data"] == [
        {"agency": "PD", "month": "2026-02", "delivered": 3, "on_time": 2, "late": 1, "on_time_share": 0.6667}
    ]
    assert client.get("/api/v1/stats/timeliness", headers=bearer(agency)).status_code == 403
    assert client.get("/api/v1/stats/timeliness").status_code == 401
