"""Public penalty routes: only what is published today, gone at once when revoked or past its
period, personal identity numbers never shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from importers.pipeline import import_file
from registry.agencies import add_agency
from tests.fixtures.make_fixtures import AGENCY_USCC, PERSON_ID, _legal_rep_id
from tests.helpers import bearer, make_key

FIXTURES = Path(__file__).parent / "fixtures"
DELIVERED = date(2025, 2, 1)


def deliver(engine: Engine, session: Session, set_today: Callable[[date], None]) -> None:
    set_today(DELIVERED)
    add_agency(session=session, code="PD", name="浦东", uscc=AGENCY_USCC)
    session.commit()
    import_file(engine=engine, path=FIXTURES / "good_utf8.csv", agency_code="PD", principal="t")


def numbers(client: TestClient, **params: str) -> list[str]:
    body = client.get("/api/v1/penalties", params=params).json()
    assert body["count"] == len(body["data"]) or "limit" in params
    return sorted(d["decision_no"] for d in body["data"])


def test_only_published_classes_and_periods_are_listed(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    deliver(engine, session, set_today)
    listed = numbers(client)
    # the warning (202号) and the public criticism (304号) are minor: never published
    assert "沪市监浦处〔2024〕202号" not in listed and "沪市监浦处〔2024〕304号" not in listed
    assert len(listed) == 6 and listed.count("沪市监浦处〔2024〕500号") == 2
    # a 1-year (general) period from 2024-03-05: published through 2025-03-04, gone on 2025-03-05
    set_today(date(2025, 3, 4))
    assert "沪市监浦处〔2024〕101号" in numbers(client)
    set_today(date(2025, 3, 5))
    assert "沪市监浦处〔2024〕101号" not in numbers(client)
    # the licence revocation (serious) stays for 3 years
    set_today(date(2028, 1, 19))
    assert numbers(client) == ["沪市监浦处〔2025〕7号"]
    set_today(date(2028, 1, 20))
    assert numbers(client) == []


def test_nothing_is_published_before_it_is_delivered(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    deliver(engine, session, set_today)
    set_today(date(2025, 1, 31))
    assert numbers(client) == []


def test_a_revoked_decision_leaves_the_public_routes_at_once(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    deliver(engine, session, set_today)
    key = make_key(session, "agency", "PD")
    first = client.get("/api/v1/penalties", params={"violation_type": "侵犯商业秘密"}).json()["data"][0]
    assert (
        client.post(
            f"/api/v1/penalties/{first['id']}/revoke", json={"reason": "判决撤销"}, headers=bearer(key)
        ).status_code
        == 200
    )
    assert first["id"] not in [d["id"] for d in client.get("/api/v1/penalties").json()["data"]]
    profile = client.get(f"/api/v1/entities/{first['uscc']}").json()
    assert first["id"] not in [p["id"] for p in profile["penalties"]]


def test_filters_and_paging(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    deliver(engine, session, set_today)
    assert numbers(client, violation_type="商标侵权") == ["沪市监浦处〔2024〕101号", "沪市监浦处〔2024〕303号"]
    assert numbers(client, since="2024-12-01", until="2024-12-31") == ["沪市监浦处〔2024〕500号"] * 2
    assert numbers(client, agency="NOPE") == []
    page = client.get("/api/v1/penalties", params={"limit": 2, "offset": 0}).json()
    assert page["count"] == 6 and len(page["data"]) == 2
    assert page["data"][0]["decision_date"] >= page["data"][1]["decision_date"]
    assert client.get("/api/v1/penalties", params={"limit": 0}).status_code == 422


def test_entity_profile_lists_its_published_penalties(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    deliver(engine, session, set_today)
    company = client.get("/api/v1/penalties", params={"violation_type": "假冒注册商标"}).json()["data"][0]["uscc"]
    profile = client.get(f"/api/v1/entities/{company}").json()
    assert sorted(p["decision_no"] for p in profile["penalties"]) == [
        "沪市监浦处〔2024〕101号", "沪市监浦处〔2024〕500号", "沪市监浦处〔2025〕7号",
    ]  # fmt: skip
    fine = next(p for p in profile["penalties"] if p["decision_no"] == "沪市监浦处〔2024〕101号")
    assert fine["fine_wan"] == "5.000000" and fine["confiscated_wan"] == "0.123456"
    assert fine["publication"] == {
        "class_id": "general", "published_from": "2025-02-01", "published_until": "2025-03-04",
        "repair_possible_from": "2024-06-05",
    }  # fmt: skip


def test_no_public_response_holds_a_full_identity_number(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    deliver(engine, session, set_today)
    bodies = [client.get("/api/v1/penalties").text, client.get(f"/api/v1/entities/{PERSON_ID}").text]
    for decision in client.get("/api/v1/penalties").json()["data"]:
        for code in (decision["uscc"], decision["reg_no"]):
            if code:
                bodies.append(client.get(f"/api/v1/entities/{code}").text)
    person = next(d for d in client.get("/api/v1/penalties").json()["data"] if d["party_type"] == "natural_person")
    assert person["id_no"] == "110101********4514"
    for body in bodies:
        assert PERSON_ID not in body and _legal_rep_id() not in body


def test_profile_of_a_person_with_a_published_penalty_masks_the_id(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    deliver(engine, session, set_today)
    body = client.get(f"/api/v1/entities/{PERSON_ID}").json()
    assert body["kind"] == "natural_person" and body["identifiers"] == [
        {"scheme": "resident_id", "value": "110101********4514"}
    ]
    set_today(date(2025, 11, 11))  # the fine's 1-year period has ended: the person is no longer shown
    assert client.get(f"/api/v1/entities/{PERSON_ID}").status_code == 404


def test_search_by_name_traditional_characters_old_names_and_codes(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    from registry.entities import Ident, resolve_entity
    from registry.identifiers import build_reg_no, build_uscc

    deliver(engine, session, set_today)
    uscc = build_uscc("9", "1", "440101", "RR000001")
    reg = build_reg_no("44010100000991")
    resolve_entity(session=session, name="廣州樣例服裝廠", identifiers=[Ident("reg_no", reg)], seen_on=date(2015, 1, 1))
    resolve_entity(
        session=session, name="广州样例服饰有限公司", identifiers=[Ident("uscc", uscc), Ident("reg_no", reg)],
        seen_on=date(2020, 1, 1),
    )  # fmt: skip
    session.commit()

    def search(q: str) -> dict:
        r = client.get("/api/v1/entities", params={"q": q})
        assert r.status_code == 200, r.text
        return r.json()

    # traditional query finds the simplified name, simplified query finds the traditional old name
    hit = search("廣州樣例服飾")["data"][0]
    assert hit["uscc"] == uscc and hit["name"] == "广州样例服饰有限公司"
    old = search("样例服装厂")
    assert old["count"] == 1 and old["data"][0]["matched_name"] == "廣州樣例服裝廠"
    # a code finds its entity first, ranked as a code match
    assert search(reg)["data"][0] == {**hit, "match": "code"}
    # exact names before partial ones
    both = search("上海示例贸易有限公司")
    assert both["data"][0]["match"] == "name"
    # natural persons appear only while a penalty of theirs is published; never with their ID
    assert "张三" in [d["name"] for d in search("张三")["data"]]
    set_today(date(2025, 11, 11))
    assert search("张三")["count"] == 0
    assert client.get("/api/v1/entities", params={"q": "上"}).status_code == 422
    assert search("100%_不存在")["count"] == 0  # LIKE wildcards are literal


def test_walking_every_public_route_finds_no_full_identity_number(
    client: TestClient, engine: Engine, session: Session, set_today: Callable[[date], None]
) -> None:
    """Every GET route that needs no key, filled with every code the registry holds."""
    from sqlalchemy import select

    from registry.entities import EntityIdentifier
    from registry.listings import decide, list_listings

    deliver(engine, session, set_today)
    # the delivery's repeat infringer was proposed for the blacklist: list it, so the
    # blacklist, its downloads, the profile and the feed carry a listing too
    set_today(date(2025, 2, 20))
    proposals, _ = list_listings(session=session, status="notified")
    assert proposals
    for proposal in proposals:
        assert proposal.id is not None
        decide(session=session, listing_id=proposal.id, decision="list", reason="test", actor="t")
    session.commit()
    assert client.get("/api/v1/blacklist").json()["count"] == len(proposals)
    codes = [v for (v,) in session.execute(select(EntityIdentifier.value)).all()]
    secrets = {PERSON_ID, _legal_rep_id()}
    spec = client.get("/openapi.json").json()
    public_gets = [
        path
        for path, item in spec["paths"].items()
        if "get" in item and not item["get"].get("security") and "Bearer" not in str(item["get"].get("parameters", ""))
    ]
    urls: list[str] = []
    for path in public_gets:
        if "{code}" in path:
            urls += [path.replace("{code}", c) for c in [*codes, PERSON_ID, _legal_rep_id()]]
        elif "{name}" in path:
            urls += [f"/api/v1/open-data/{n}.{f}" for n in ("penalties", "blacklist") for f in ("csv", "jsonl")]
        elif "{" not in path:
            urls.append(path)
    urls += ["/api/v1/entities?q=张三", "/api/v1/entities?q=上海", "/api/v1/changes?since=2025-01-01"]
    assert any("/open-data/" in u for u in urls) and any("/changes" in u for u in urls)
    walked = 0
    for url in urls:
        r = client.get(url)
        assert r.status_code in (200, 404, 422), url
        assert not any(s in r.text for s in secrets), url
        walked += 1
    assert walked >= 20
