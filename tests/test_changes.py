"""The change feed keeps a mirror exact: applying ADD / MOD / DEL in order, day after day,
gives exactly the published list of that day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from importers.pipeline import import_file
from registry.agencies import add_agency
from tests.fixtures.make_fixtures import AGENCY_USCC, csv_text, good_rows
from tests.helpers import bearer, make_key

FIXTURES = Path(__file__).parent / "fixtures"


def published(client: TestClient) -> dict[int, dict]:
    body = client.get("/api/v1/penalties", params={"limit": 500}).json()
    return {d["id"]: d for d in body["data"]}


def test_a_mirror_fed_by_the_change_feed_stays_exact(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None], tmp_path: Path
) -> None:
    add_agency(session=session, code="PD", name="浦东", uscc=AGENCY_USCC)
    session.commit()
    key = make_key(session, "agency", "PD")
    mirror: dict[int, dict] = {}
    cursor: str | None = None
    seen_reasons: set[tuple[str, str | None]] = set()

    def sync() -> None:
        nonlocal cursor
        body = client.get("/api/v1/changes", params={"since": cursor} if cursor else {}).json()
        for event in body["data"]:
            seen_reasons.add((event["change"], event["reason"]))
            if event["change"] == "DEL":
                mirror.pop(event["decision_id"], None)
            else:
                mirror[event["decision_id"]] = event["record"]
        cursor = body["next"]
        assert mirror == published(client)

    day = date(2025, 1, 25)
    set_today(day)
    sync()  # nothing yet
    set_today(date(2025, 2, 1))
    import_file(engine=engine, path=FIXTURES / "good_utf8.csv", agency_code="PD", principal="t")
    sync()
    assert len(mirror) == 6
    # a correction while published is a MOD
    set_today(date(2025, 2, 3))
    rows = good_rows()
    rows[3]["罚款金额（万元）"] = Decimal("0.3")
    changed = tmp_path / "changed.csv"
    changed.write_text(csv_text(rows), encoding="utf-8")
    assert import_file(engine=engine, path=changed, agency_code="PD", principal="t")["updated"] == 1
    sync()
    # a revocation is a DEL at once
    set_today(date(2025, 2, 4))
    victim = next(iter(mirror))
    assert (
        client.post(f"/api/v1/penalties/{victim}/revoke", json={"reason": "撤销"}, headers=bearer(key)).status_code
        == 200
    )
    sync()
    assert victim not in mirror
    # periods end by themselves: walk past the 1-year and 3-year ends, syncing now and then
    for step in (30, 40, 200, 400, 800, 300):
        day = date.fromisoformat(cursor or "2025-02-04") + timedelta(days=step)
        set_today(day)
        sync()
    assert mirror == {} and published(client) == {}
    assert {("ADD", None), ("MOD", None), ("DEL", "revoked"), ("DEL", "period_ended")} <= seen_reasons
