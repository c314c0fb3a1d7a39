"""Credit repair and objections with the clock moved: too early (with the date it becomes
possible), never early, approval ending publication and sanctions at once, objections that
end in a correction through the normal update path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.helpers import bearer, make_agency, make_key
from tests.test_blacklist import COMPANY, OTHER, _listed, blacklist, deliver, record

EVIDENCE = {"fine_paid": True, "corrected": True, "commitment_signed": True, "documents": ["缴款书 2025-001"]}


def published(client: TestClient) -> dict[str, dict]:
    return {d["decision_no"]: d for d in client.get("/api/v1/penalties", params={"limit": 500}).json()["data"]}


def apply(client: TestClient, key: str, target: str, target_id: int, evidence: dict = EVIDENCE):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/repairs", json={"target": target, "id": target_id, "evidence": evidence}, headers=bearer(key)
    )


def test_repair_of_a_decision_from_too_early_to_approved(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    set_today(date(2025, 3, 3))
    deliver(client, keys["pd"], record("R-1", date(2025, 3, 1), uscc=OTHER, violation_type="虚假广告"))
    decision_id = published(client)["R-1"]["id"]
    set_today(date(2025, 5, 30))
    early = apply(client, keys["pd"], "decision", decision_id)
    assert early.status_code == 409 and early.json()["code"] == "too_early"
    assert "2025-06-01" in early.json()["detail"] and early.json()["errors"][0]["value"] == "2025-06-01"
    set_today(date(2025, 6, 3))
    missing = apply(client, keys["pd"], "decision", decision_id, {"corrected": True})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"evidence.fine_paid", "evidence.commitment_signed"}
    filed = apply(client, keys["pd"], "decision", decision_id)
    assert filed.status_code == 201, filed.text
    application = filed.json()
    assert application["status"] == "pending" and application["due_on"] == "2025-06-10"
    assert apply(client, keys["pd"], "decision", decision_id).json()["code"] == "already_pending"
    # overdue after its deadline (5 working days)
    set_today(date(2025, 6, 11))
    overdue = client.get("/api/v1/repairs", params={"overdue": "true"}, headers=bearer(keys["admin"])).json()
    assert [a["id"] for a in overdue["data"]] == [application["id"]]
    assert "R-1" in published(client)
    decided = client.post(
        f"/api/v1/repairs/{application['id']}/decide",
        json={"decision": "approve", "reason": "已履行并整改"},
        headers=bearer(keys["admin"]),
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    # publication ends at once; the feed says why; the profile keeps the repair history
    assert "R-1" not in published(client)
    feed = client.get("/api/v1/changes", params={"since": "2025-06-10"}).json()["data"]
    assert [(e["change"], e["reason"], e["decision_id"]) for e in feed] == [("DEL", "repaired", decision_id)]
    profile = client.get(f"/api/v1/entities/{OTHER}").json()
    assert profile["penalties"] == [] and profile["repairs"] == [
        {"target": "decision", "decision_no": "R-1", "repaired_on": "2025-06-11"}
    ]
    assert client.get("/api/v1/repairs", params={"overdue": "true"}, headers=bearer(keys["admin"])).json()["count"] == 0
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=bearer(keys["admin"])).json()["data"]]
    assert "repair.apply" in actions and "repair.approve" in actions


def test_never_early_types_are_refused_with_that_reason(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    set_today(date(2025, 3, 3))
    deliver(
        client,
        keys["pd"],
        record(
            "N-1",
            date(2025, 3, 1),
            uscc=OTHER,
            violation_type="虚假广告",
            penalty_types="罚款;吊销许可证件",
            license_affected="营业执照",
        ),
    )
    set_today(date(2026, 6, 1))
    refused = apply(client, keys["pd"], "decision", published(client)["N-1"]["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "never_early" and "吊销许可证件" in refused.text


def test_repair_of_a_listing_lifts_sanctions_at_once(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    listing_id = _listed(client, keys, set_today)  # listed 2025-06-20
    assert client.get("/api/v1/repairs", headers=bearer(keys["pd"])).status_code == 403
    set_today(date(2026, 6, 19))
    early = apply(client, keys["pd"], "listing", listing_id)
    assert early.status_code == 409 and "2026-06-20" in early.json()["detail"]
    set_today(date(2026, 6, 22))
    assert (
        client.post(
            "/api/v1/repairs",
            json={"target": "listing", "id": listing_id, "evidence": EVIDENCE},
            headers=bearer(keys["bank"]),
        ).status_code
        == 403
    )
    filed = apply(client, keys["admin"], "listing", listing_id).json()
    check = {"code": COMPANY, "action": "procurement"}
    assert client.post("/api/v1/checks", json=check, headers=bearer(keys["pd"])).json()["decision"] == "restricted"
    client.post(
        f"/api/v1/repairs/{filed['id']}/decide",
        json={"decision": "approve", "reason": "已修复"},
        headers=bearer(keys["admin"]),
    )
    assert client.post("/api/v1/checks", json=check, headers=bearer(keys["pd"])).json()["decision"] == "clear"
    assert blacklist(client) == []
    assert client.get("/api/v1/open-data/blacklist.jsonl").text == ""
    detail = client.get(f"/api/v1/listings/{listing_id}", headers=bearer(keys["admin"])).json()
    assert (detail["status"], detail["end_reason"], detail["ended_on"]) == ("ended", "repaired", "2026-06-22")
    assert detail["events"][-1]["action"] == "repaired"
    feed = client.get("/api/v1/changes", params={"since": "2026-06-21"}).json()["data"]
    assert [(e["kind"], e["change"], e["reason"]) for e in feed] == [("listing", "DEL", "repaired")]
    assert client.get(f"/api/v1/entities/{COMPANY}").json()["repairs"][0]["rule_title"] == "重复侵权"


def test_a_new_heavier_penalty_since_the_listing_blocks_repair(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None]
) -> None:
    listing_id = _listed(client, keys, set_today)
    set_today(date(2026, 1, 5))
    deliver(
        client, keys["pd"], record("X-9", date(2026, 1, 2), violation_type="虚假广告", penalty_types="责令停产停业")
    )
    set_today(date(2026, 7, 1))
    refused = apply(client, keys["pd"], "listing", listing_id)
    assert refused.status_code == 409 and refused.json()["code"] == "new_heavier_penalty" and "X-9" in refused.text


def test_objection_resolved_by_correction_updates_the_record_and_keeps_history(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None], session: Session
) -> None:
    set_today(date(2025, 3, 3))
    original = record("O-1", date(2025, 3, 1), uscc=OTHER, violation_type="虚假广告", fine_wan="30")
    deliver(client, keys["pd"], original)
    decision_id = published(client)["O-1"]["id"]
    make_agency(session, "XH", "徐汇")
    other_agency = make_key(session, "agency", "XH")
    body = {"decision_id": decision_id, "kind": "wrong_amount", "text": "罚款金额应为3万元"}
    assert client.post("/api/v1/objections", json=body, headers=bearer(keys["bank"])).status_code == 403
    bad_kind = client.post("/api/v1/objections", json=body | {"kind": "grumpy"}, headers=bearer(keys["pd"]))
    assert bad_kind.status_code == 422 and bad_kind.json()["errors"][0]["field"] == "kind"
    filed = client.post("/api/v1/objections", json=body, headers=bearer(keys["admin"]))
    assert filed.status_code == 201 and filed.json()["due_on"] == "2025-03-10"
    objection_id = filed.json()["id"]
    assert published(client)["O-1"]["under_objection"] is True
    resolve = f"/api/v1/objections/{objection_id}/resolve"
    assert client.post(resolve, json={"outcome": "corrected"}, headers=bearer(other_agency)).status_code == 403
    early = client.post(resolve, json={"outcome": "corrected"}, headers=bearer(keys["pd"]))
    assert early.status_code == 409 and early.json()["code"] == "no_correction"
    set_today(date(2025, 3, 5))
    summary = deliver(client, keys["pd"], original | {"fine_wan": "3"})
    assert summary["updated"] == 1
    done = client.post(resolve, json={"outcome": "corrected", "note": "已更正"}, headers=bearer(keys["pd"]))
    assert done.status_code == 200 and done.json()["status"] == "corrected"
    shown = published(client)["O-1"]
    assert shown["under_objection"] is False and float(shown["fine_wan"]) == 3
    from registry.penalties import history_of

    [previous] = history_of(session=session, decision_id=decision_id)
    assert previous.change == "update" and float(previous.previous["fine_wan"]) == 30
    assert client.post(resolve, json={"outcome": "confirmed"}, headers=bearer(keys["pd"])).status_code == 409
    objections = client.get("/api/v1/objections", params={"status": "corrected"}, headers=bearer(keys["admin"]))
    assert objections.json()["count"] == 1
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=bearer(keys["admin"])).json()["data"]]
    assert "objection.file" in actions and "objection.corrected" in actions


def test_admin_side_on_the_command_line(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    from tests.test_cli import run

    set_today(date(2025, 6, 12))
    deliver(client, keys["pd"], record("C-1", date(2024, 1, 10)), record("C-2", date(2025, 6, 10)))
    code, out, _ = run(capsys, "listing", "list", "--status", "proposed")
    listing_id = int(out.split("\t")[0])
    assert code == 0 and "repeat_infringement" in out
    code, _, err = run(capsys, "listing", "decide", str(listing_id), "--decision", "list", "--reason", "x")
    assert code == 1 and "objection window is open" in err and "\n" not in err.strip()
    set_today(date(2025, 6, 20))
    code, out, _ = run(capsys, "listing", "decide", str(listing_id), "--decision", "list", "--reason", "屡犯")
    assert code == 0 and "listed from 2025-06-20 until 2028-06-19" in out
    set_today(date(2026, 7, 1))
    application = apply(client, keys["pd"], "listing", listing_id).json()
    code, out, _ = run(capsys, "repair", "list", "--status", "pending")
    assert code == 0 and out.startswith(f"{application['id']}\tpending\tlisting:{listing_id}")
    code, out, _ = run(capsys, "repair", "decide", str(application["id"]), "--decision", "approve", "--reason", "ok")
    assert code == 0 and "approved" in out
    assert blacklist(client) == []
    code, out, _ = run(capsys, "objection", "list")
    assert code == 0 and out == ""
