"""Keys, roles and the HTTP API: 401/403, problem+json, identifiers and entity routes."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.app import create_app
from registry.access import authenticate, create_key, forget_keys, revoke_key
from registry.audit import list_events
from registry.config import reload_settings
from registry.entities import Ident, resolve_entity
from registry.errors import AuthenticationFailed, ValidationFailed
from registry.identifiers import build_reg_no, build_uscc, check
from tests.helpers import bearer, make_agency, make_key


def test_key_is_stored_hashed_and_shown_once(session: Session, engine) -> None:  # type: ignore[no-untyped-def]
    key, raw = create_key(session=session, role="admin", name="ops")
    session.commit()
    assert raw.startswith("xy_") and len(raw) > 30
    assert key.key_hash != raw and raw not in key.key_hash
    with engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM api_key")).all())
    assert raw not in dump and key.prefix in dump
    assert authenticate(session=session, raw_key=raw).role == "admin"


def test_agency_keys_need_an_agency_and_others_refuse_one(session: Session) -> None:
    with pytest.raises(ValidationFailed):
        create_key(session=session, role="agency")
    make_agency(session, "SAMR-SH")
    with pytest.raises(ValidationFailed):
        create_key(session=session, role="bank", agency_code="SAMR-SH")
    with pytest.raises(ValidationFailed):
        create_key(session=session, role="root")
    _, raw = create_key(session=session, role="agency", agency_code="SAMR-SH")
    p = authenticate(session=session, raw_key=raw)
    assert (p.role, p.agency_code) == ("agency", "SAMR-SH")


def test_revoked_and_unknown_keys_are_refused(session: Session) -> None:
    key, raw = create_key(session=session, role="bank")
    revoke_key(session=session, prefix=key.prefix)
    session.commit()
    with pytest.raises(AuthenticationFailed) as info:
        authenticate(session=session, raw_key=raw)
    assert info.value.code == "revoked_key"
    with pytest.raises(AuthenticationFailed):
        authenticate(session=session, raw_key="xy_not-a-key")


def test_http_401_without_key_unknown_key_and_revoked_key(client: TestClient, session: Session) -> None:
    r = client.get("/api/v1/audit")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"] == "Bearer"
    body = r.json()
    assert {"type", "title", "status", "detail", "errors"} <= set(body) and body["status"] == 401
    assert client.get("/api/v1/audit", headers=bearer("xy_unknown")).status_code == 401
    key, raw = create_key(session=session, role="admin")
    session.commit()
    assert client.get("/api/v1/audit", headers=bearer(raw)).status_code == 200
    revoke_key(session=session, prefix=key.prefix)
    session.commit()
    r = client.get("/api/v1/audit", headers=bearer(raw))
    assert r.status_code == 401 and r.json()["code"] == "revoked_key"


def test_a_key_revoked_by_another_process_stops_within_the_cache_time(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server remembers a checked key for XINYONG_KEY_CACHE_SECONDS; a revocation written by
    another process (here: raw SQL, which cannot clear this process's memory) applies once
    that time is over, or at once with the cache off."""
    key, raw = create_key(session=session, role="admin")
    session.commit()

    def revoke_elsewhere() -> None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE api_key SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"), {"id": key.id})

    monkeypatch.setenv("XINYONG_KEY_CACHE_SECONDS", "3600")
    with TestClient(create_app(reload_settings(), engine=engine)) as client:
        assert client.get("/api/v1/audit", headers=bearer(raw)).status_code == 200
        revoke_elsewhere()
        assert client.get("/api/v1/audit", headers=bearer(raw)).status_code == 200  # remembered
        forget_keys()  # what the passing of XINYONG_KEY_CACHE_SECONDS does
        r = client.get("/api/v1/audit", headers=bearer(raw))
        assert r.status_code == 401 and r.json()["code"] == "revoked_key"

    key, raw_other = create_key(session=session, role="admin")
    session.commit()
    monkeypatch.setenv("XINYONG_KEY_CACHE_SECONDS", "0")
    with TestClient(create_app(reload_settings(), engine=engine)) as client:
        assert client.get("/api/v1/audit", headers=bearer(raw_other)).status_code == 200
        revoke_elsewhere()
        assert client.get("/api/v1/audit", headers=bearer(raw_other)).status_code == 401


def test_http_403_for_the_wrong_role_is_audited(client: TestClient, session: Session) -> None:
    make_agency(session, "SAMR-SH")
    raw = make_key(session, "agency", "SAMR-SH")
    bank = make_key(session, "bank")
    for key in (raw, bank):
        r = client.get("/api/v1/audit", headers=bearer(key))
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        assert client.post("/api/v1/agencies", json={}, headers=bearer(key)).status_code == 403
    events, _ = list_events(session=session, action="GET /api/v1/audit")
    assert {e.outcome for e in events} == {"denied"} and len(events) == 2
    assert events[-1].principal.startswith("agency:SAMR-SH/key:xy_")


def test_raw_key_never_reaches_the_logs(client: TestClient, session: Session, caplog: pytest.LogCaptureFixture) -> None:
    raw = make_key(session, "admin")
    caplog.set_level(logging.DEBUG)
    client.get("/api/v1/whoami", headers=bearer(raw))
    client.get("/api/v1/audit", headers=bearer(raw + "x"))
    assert raw not in caplog.text


def test_whoami(client: TestClient, session: Session) -> None:
    make_agency(session, "CNIPA", "国家知识产权局")
    raw = make_key(session, "agency", "CNIPA")
    body = client.get("/api/v1/whoami", headers=bearer(raw)).json()
    assert body["role"] == "agency" and body["agency"] == "CNIPA" and raw.startswith(body["key_prefix"])


def test_admin_adds_and_lists_agencies_with_audit(client: TestClient, session: Session) -> None:
    admin = make_key(session, "admin")
    good = {
        "code": "SAMR-GD",
        "name": "广东省市场监督管理局",
        "uscc": build_uscc("1", "1", "440000", "AG000001"),
    }
    r = client.post("/api/v1/agencies", json=good, headers=bearer(admin))
    assert r.status_code == 201 and r.json()["uscc"] == good["uscc"]
    assert client.post("/api/v1/agencies", json=good, headers=bearer(admin)).status_code == 201  # same again
    clash = client.post("/api/v1/agencies", json={**good, "name": "别的机关"}, headers=bearer(admin))
    assert clash.status_code == 409
    bad = client.post(
        "/api/v1/agencies", json={**good, "code": "X2", "uscc": "11440000AG0000010"}, headers=bearer(admin)
    )
    assert bad.status_code == 422
    err = bad.json()["errors"][0]
    assert err["field"] == "uscc" and err["code"] == "length" and err["message"]
    listed = client.get("/api/v1/agencies", headers=bearer(admin)).json()
    assert listed["count"] == 1 and listed["data"][0]["code"] == "SAMR-GD"
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=bearer(admin)).json()["data"]]
    assert actions.count("agency.add") == 2 and "agency.list" in actions


def test_request_validation_errors_are_problems_with_fields(client: TestClient, session: Session) -> None:
    admin = make_key(session, "admin")
    r = client.post("/api/v1/agencies", json={"code": "X"}, headers=bearer(admin))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in r.json()["errors"]} == {"name", "uscc"}


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["status"] == 404


@pytest.mark.parametrize(
    "code",
    [
        "91110000600037341L",
        "91110000600037341N",
        "00000000000000000X",
        "310115600985533",
        "hello",
        "110101199003074514",
    ],
)
def test_identifier_route_returns_the_check_object(client: TestClient, code: str) -> None:
    r = client.get(f"/api/v1/identifiers/{code}")
    assert r.status_code == 200  # a validation service: invalid is still 200
    assert r.json() == check(code).public_dict()


def test_identifier_route_masks_resident_ids(client: TestClient) -> None:
    r = client.get("/api/v1/identifiers/110101199003074514")
    assert "110101199003074514" not in r.text and r.json()["input"] == "110101********4514"


def test_entity_route_404_unknown_422_malformed_and_found_by_legacy_code(client: TestClient, session: Session) -> None:
    uscc = build_uscc("9", "1", "440101", "EN000009")
    reg = build_reg_no("44010100000099")
    resolve_entity(
        session=session, name="广州样例服饰有限公司", identifiers=[Ident("uscc", uscc), Ident("reg_no", reg)]
    )
    session.commit()
    assert client.get("/api/v1/entities/91110000600037341L").status_code == 404
    bad = client.get("/api/v1/entities/91110000600037341N")
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "checksum"
    body = client.get(f"/api/v1/entities/{reg}").json()
    assert body["uscc"] == uscc and body["region"]["province"] == "广东省"
    assert {"uscc", "name", "kind", "identifiers", "region", "penalties", "listing"} <= set(body)


def test_a_natural_person_with_nothing_published_is_not_shown(client: TestClient, session: Session) -> None:
    resolve_entity(session=session, name="张三", identifiers=[Ident("resident_id", "110101199003074514")])
    session.commit()
    r = client.get("/api/v1/entities/110101199003074514")
    assert r.status_code == 404 and "110101199003074514" not in r.text and "张三" not in r.text


def test_openapi_carries_chinese_descriptions(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    props = spec["components"]["schemas"]["IdentifierCheckOut"]["properties"]
    assert "统一社会信用代码" in props["scheme"]["description"]
