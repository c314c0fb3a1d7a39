"""The blacklist with due process, the clock moved through whole lives: proposal with notice,
objection window, decision, publication, expiry; revocation; what never qualifies."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli import main
from registry.identifiers import build_uscc
from tests.fixtures.make_fixtures import AGENCY_USCC
from tests.helpers import bearer

COMPANY = build_uscc("9", "1", "310115", "BL000001")
OTHER = build_uscc("9", "1", "310115", "BL000002")


def record(
    number: str, decided: date, *, uscc: str = COMPANY, name: str = "上海仿冒制品有限公司", **extra: Any
) -> dict:
    """One JSON record in the 双公示 field names (CONTRACT.md)."""
    return {
        "name": name,
        "party_type": "法人及非法人组织",
        "uscc": uscc,
        "decision_no": number,
        "violation_type": "商标侵权",
        "facts": "销售侵犯注册商标专用权的商品",
        "basis": "《中华人民共和国商标法》第六十条第二款",
        "penalty_types": "罚款",
        "content": "罚款",
        "fine_wan": "3",
        "decision_date": decided.isoformat(),
        "agency_name": "上海市浦东新区市场监督管理局",
        "agency_uscc": AGENCY_USCC,
        "source_name": "上海市浦东新区市场监督管理局",
        "source_uscc": AGENCY_USCC,
        **extra,
    }


def deliver(client: TestClient, key: str, *records: dict) -> dict:
    response = client.post("/api/v1/penalties", json={"records": list(records)}, headers=bearer(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rejected"] == 0, body["rejections"]
    return body


def listings(client: TestClient, admin: str, status: str | None = None) -> list[dict]:
    params = {"status": status} if status else {}
    response = client.get("/api/v1/listings", params=params, headers=bearer(admin))
    assert response.status_code == 200, response.text
    return response.json()["data"]


def blacklist(client: TestClient) -> list[dict]:
    body = client.get("/api/v1/blacklist").json()
    assert body["count"] == len(body["data"])
    return body["data"]


def rules_run(capsys: pytest.CaptureFixture[str]) -> dict:
    import json

    with pytest.raises(SystemExit) as info:
        main(["rules", "run", "--json"])
    out, err = capsys.readouterr()
    assert info.value.code in (0, None), err
    return json.loads(out)


def test_a_full_life_proposal_notice_objection_listing_publication_expiry(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None], capsys: pytest.CaptureFixture[str]
) -> None:
    admin = keys["admin"]
    set_today(date(2025, 6, 12))  # a Thursday
    deliver(client, keys["pd"], record("沪市监浦处〔2024〕11号", date(2024, 1, 10)))
    assert listings(client, admin) == []  # one decision: no repeat yet
    deliver(client, keys["pd"], record("沪市监浦处〔2025〕66号", date(2025, 6, 10), violation_type="专利侵权"))
    # the import itself proposed the listing, with the notice recorded at once
    [proposal] = listings(client, admin, "proposed")
    assert proposal["status"] == "notified" and proposal["rule"] == "repeat_infringement"
    assert [d["decision_no"] for d in proposal["decisions"]] == ["沪市监浦处〔2024〕11号", "沪市监浦处〔2025〕66号"]
    # 5 working days after Thursday 2025-06-12: Fri 13, Mon 16 … Thu 19
    assert proposal["objection_until"] == "2025-06-19"
    assert "沪市监浦处〔2025〕66号" in proposal["notice"] and "2025-06-19" in proposal["notice"]
    assert "国家知识产权局知识产权信用管理规定" in proposal["basis"]
    assert blacklist(client) == []  # a proposal is not published
    # a second run proposes nothing new
    assert rules_run(capsys) == {"proposed": 0, "listed": 0, "expired": 0, "revoked": 0}
    listing_id = proposal["id"]

    # the entity objects through an agency, inside the window
    set_today(date(2025, 6, 18))
    objection = client.post(
        f"/api/v1/listings/{listing_id}/objections", json={"text": "已停止销售并赔偿权利人"}, headers=bearer(keys["pd"])
    )
    assert objection.status_code == 201, objection.text
    # deciding while the window is open is refused, on its last day too
    set_today(date(2025, 6, 19))
    refused = client.post(
        f"/api/v1/listings/{listing_id}/decide", json={"decision": "list", "reason": "屡犯"}, headers=bearer(admin)
    )
    assert refused.status_code == 409 and refused.json()["code"] == "objection_window_open"
    assert "2025-06-20" in refused.json()["detail"]

    set_today(date(2025, 6, 20))
    late = client.post(f"/api/v1/listings/{listing_id}/objections", json={"text": "迟到"}, headers=bearer(admin))
    assert late.status_code == 409 and late.json()["code"] == "objection_window_closed"
    decided = client.post(
        f"/api/v1/listings/{listing_id}/decide",
        json={"decision": "list", "reason": "申辩理由不成立：五年内两次侵权"},
        headers=bearer(admin),
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "listed" and body["listed_from"] == "2025-06-20" and body["listed_until"] == "2028-06-19"
    actions = [e["action"] for e in body["events"]]
    assert actions == ["proposed", "notified", "objection", "listed"]
    assert body["events"][2]["reason"] == "已停止销售并赔偿权利人"
    assert body["events"][3]["actor"].startswith("admin/")
    twice = client.post(
        f"/api/v1/listings/{listing_id}/decide", json={"decision": "drop", "reason": "x"}, headers=bearer(admin)
    )
    assert twice.status_code == 409 and twice.json()["code"] == "not_pending"

    # public: the blacklist, the profile, open data and the change feed name rule, basis, decisions
    [entry] = blacklist(client)
    assert entry["uscc"] == COMPANY and entry["rule_title"] == "重复侵权"
    assert entry["listed_from"] == "2025-06-20" and entry["listed_until"] == "2028-06-19"
    assert "发改财金〔2018〕1702号" in entry["basis"]
    assert [d["decision_no"] for d in entry["decisions"]] == ["沪市监浦处〔2024〕11号", "沪市监浦处〔2025〕66号"]
    profile = client.get(f"/api/v1/entities/{COMPANY}").json()
    assert profile["listing"]["id"] == listing_id and profile["listing"]["rule_title"] == "重复侵权"
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/open-data/blacklist.csv").content.decode("utf-8-sig"))))
    assert rows[1][:3] == ["上海仿冒制品有限公司", COMPANY, "重复侵权"]
    assert rows[1][4] == "沪市监浦处〔2024〕11号；沪市监浦处〔2025〕66号"
    jsonl = client.get("/api/v1/open-data/blacklist.jsonl").text.splitlines()
    assert len(jsonl) == 1 and COMPANY in jsonl[0]
    feed = client.get("/api/v1/changes", params={"since": "2025-06-19"}).json()["data"]
    [add] = [e for e in feed if e["kind"] == "listing"]
    assert add["change"] == "ADD" and add["on"] == "2025-06-20" and add["record"]["rule"] == "repeat_infringement"

    # the last day listed, then gone the day after, before and after a rules run records it
    set_today(date(2028, 6, 19))
    assert len(blacklist(client)) == 1
    set_today(date(2028, 6, 20))
    assert blacklist(client) == []
    assert client.get(f"/api/v1/entities/{COMPANY}").json()["listing"] is None
    assert listings(client, admin, "ended")[0]["end_reason"] == "expired"
    assert rules_run(capsys) == {"proposed": 0, "listed": 0, "expired": 1, "revoked": 0}
    assert rules_run(capsys) == {"proposed": 0, "listed": 0, "expired": 0, "revoked": 0}
    feed = client.get("/api/v1/changes", params={"since": "2028-06-19"}).json()["data"]
    assert [(e["kind"], e["change"], e["reason"]) for e in feed] == [("listing", "DEL", "expired")]


def _listed(client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]) -> int:
    set_today(date(2025, 6, 12))
    deliver(
        client,
        keys["pd"],
        record("沪市监浦处〔2024〕11号", date(2024, 1, 10)),
        record("沪市监浦处〔2025〕66号", date(2025, 6, 10)),
    )
    [proposal] = listings(client, keys["admin"], "proposed")
    set_today(date(2025, 6, 20))
    decided = client.post(
        f"/api/v1/listings/{proposal['id']}/decide",
        json={"decision": "list", "reason": "屡犯"},
        headers=bearer(keys["admin"]),
    )
    assert decided.status_code == 200
    return int(proposal["id"])


def test_revoking_a_triggering_decision_revokes_the_listing_at_once(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    listing_id = _listed(client, keys, set_today)
    set_today(date(2025, 9, 1))
    assert len(blacklist(client)) == 1
    [entry] = blacklist(client)
    decision_id = entry["decisions"][0]["decision_id"]
    revoked = client.post(
        f"/api/v1/penalties/{decision_id}/revoke", json={"reason": "行政复议撤销"}, headers=bearer(keys["pd"])
    )
    assert revoked.status_code == 200
    # gone from every public output in the same request, no rules run needed
    assert blacklist(client) == []
    assert client.get(f"/api/v1/entities/{COMPANY}").json()["listing"] is None
    assert client.get("/api/v1/open-data/blacklist.jsonl").text == ""
    detail = client.get(f"/api/v1/listings/{listing_id}", headers=bearer(keys["admin"])).json()
    assert detail["status"] == "ended" and detail["end_reason"] == "revoked" and detail["ended_on"] == "2025-09-01"
    assert [e["action"] for e in detail["events"]][-2:] == ["decision_removed", "revoked"]
    removed = {d["decision_no"]: d["removed_on"] for d in detail["decisions"]}
    assert removed == {"沪市监浦处〔2024〕11号": "2025-09-01", "沪市监浦处〔2025〕66号": None}
    feed = client.get("/api/v1/changes", params={"since": "2025-08-31"}).json()["data"]
    assert ("listing", "DEL", "revoked") in [(e["kind"], e["change"], e["reason"]) for e in feed]


def test_a_listing_that_still_holds_after_a_revocation_stays(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    listing_id = _listed(client, keys, set_today)
    set_today(date(2025, 9, 1))
    deliver(client, keys["pd"], record("沪市监浦处〔2025〕90号", date(2025, 8, 28)))
    # a fresh qualifying decision during the listing is recorded on it, not a new proposal
    detail = client.get(f"/api/v1/listings/{listing_id}", headers=bearer(keys["admin"])).json()
    assert detail["events"][-1]["action"] == "decision_added"
    assert [d["role"] for d in detail["decisions"]] == ["trigger", "trigger", "added"]
    assert len(listings(client, keys["admin"])) == 1
    first = detail["decisions"][0]
    assert first["decision_no"] == "沪市监浦处〔2024〕11号"
    client.post(f"/api/v1/penalties/{first['decision_id']}/revoke", json={"reason": "撤销"}, headers=bearer(keys["pd"]))
    [entry] = blacklist(client)
    assert [d["decision_no"] for d in entry["decisions"]] == ["沪市监浦处〔2025〕66号", "沪市监浦处〔2025〕90号"]


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        (record("A-1", date(2019, 5, 1)), record("A-2", date(2025, 5, 20)), "six years apart"),
        (
            record("B-1", date(2024, 5, 1), violation_type="虚假广告"),
            record("B-2", date(2025, 5, 20), violation_type="虚假广告"),
            "outside the IP field",
        ),
        (record("C-1", date(2025, 5, 20)), record("C-2", date(2025, 5, 20)), "same day: one occasion"),
    ],
)
def test_no_proposal(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    first: dict,
    second: dict,
    why: str,
) -> None:
    set_today(date(2025, 6, 1))
    deliver(client, keys["pd"], first, second)
    assert listings(client, keys["admin"]) == [], why


def test_deliberate_infringement_with_licence_revoked_proposes_on_one_decision(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    set_today(date(2025, 6, 1))
    deliver(
        client,
        keys["pd"],
        record(
            "D-1", date(2025, 5, 20), penalty_types="罚款;吊销许可证件", deliberate="是", license_affected="营业执照"
        ),
    )
    [proposal] = listings(client, keys["admin"], "proposed")
    assert proposal["rule"] == "deliberate_infringement" and proposal["rule_title"] == "故意侵权"
    assert [d["decision_no"] for d in proposal["decisions"]] == ["D-1"]
    # without the deliberate mark the heavier penalty alone still qualifies, under its own rule
    deliver(client, keys["pd"], record("E-1", date(2025, 5, 21), uscc=OTHER, name="上海另一公司",
                                       penalty_types="吊销许可证件", license_affected="营业执照"))  # fmt: skip
    rules = sorted(p["rule"] for p in listings(client, keys["admin"], "proposed"))
    assert rules == ["deliberate_infringement", "heavier_penalty"]


def test_drop_closes_the_proposal_for_good(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None], capsys: pytest.CaptureFixture[str]
) -> None:
    set_today(date(2025, 6, 12))
    deliver(client, keys["pd"], record("F-1", date(2024, 1, 10)), record("F-2", date(2025, 6, 10)))
    [proposal] = listings(client, keys["admin"], "proposed")
    set_today(date(2025, 6, 20))
    dropped = client.post(
        f"/api/v1/listings/{proposal['id']}/decide",
        json={"decision": "drop", "reason": "当事人证明不存在主观故意"},
        headers=bearer(keys["admin"]),
    )
    assert dropped.json()["status"] == "dropped"
    assert rules_run(capsys)["proposed"] == 0  # the same decisions never propose again
    assert blacklist(client) == []


def test_roles_on_the_listing_routes(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    set_today(date(2025, 6, 12))
    deliver(client, keys["pd"], record("G-1", date(2024, 1, 10)), record("G-2", date(2025, 6, 10)))
    [proposal] = listings(client, keys["admin"])
    assert client.get("/api/v1/listings").status_code == 401
    assert client.get("/api/v1/listings", headers=bearer(keys["pd"])).status_code == 403
    path = f"/api/v1/listings/{proposal['id']}"
    assert (
        client.post(f"{path}/decide", json={"decision": "list", "reason": "x"}, headers=bearer(keys["pd"])).status_code
        == 403
    )
    assert client.post(f"{path}/objections", json={"text": "x"}, headers=bearer(keys["bank"])).status_code == 403
    assert client.post(f"{path}/objections", json={"text": " "}, headers=bearer(keys["pd"])).status_code == 422
    bad = client.get("/api/v1/listings", params={"status": "maybe"}, headers=bearer(keys["admin"]))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    assert client.get("/api/v1/listings/999", headers=bearer(keys["admin"])).status_code == 404
