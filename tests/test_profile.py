"""The public entity profile: the same answer as its parts read one by one (identifiers, names,
published penalties, listing, repairs), in one statement unless there is a listing or a repair to read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from registry import entities, portal
from registry.identifiers import build_reg_no, build_uscc
from tests.test_blacklist import deliver, record

COMPANY = build_uscc("9", "1", "310115", "PF000001")
REG_NO = build_reg_no("31011500000077")
QUIET = build_uscc("9", "1", "310115", "PF000002")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_profile_is_what_its_parts_say(
    client: TestClient, keys: dict[str, str], session: Session, set_today: Callable[[date], None]
) -> None:
    set_today(date(2025, 6, 2))
    deliver(
        client,
        keys["pd"],
        record("沪市监浦处〔2025〕1号", date(2025, 1, 10), uscc=COMPANY, name="上海旧名贸易有限公司", reg_no=REG_NO),
        record("沪市监浦处〔2025〕2号", date(2025, 3, 1), uscc=COMPANY, name="上海新名贸易有限公司"),
        # a warning alone is not published
        record(
            "沪市监浦处〔2025〕3号",
            date(2025, 4, 1),
            uscc=COMPANY,
            name="上海新名贸易有限公司",
            penalty_types="警告",
            content="警告",
        ),
    )
    entity = entities.lookup(session=session, code=REG_NO)
    assert entity.id is not None
    published = client.get("/api/v1/penalties", params={"limit": 500}).json()["data"]
    for code in (COMPANY, REG_NO):
        profile = client.get(f"/api/v1/entities/{code}").json()
        assert profile["uscc"] == COMPANY and profile["name"] == entity.name == "上海新名贸易有限公司"
        assert profile["identifiers"] == [
            {"scheme": i.scheme, "value": i.value}
            for i in entities.identifiers_of(session=session, entity_id=entity.id)
        ]
        assert [i["scheme"] for i in profile["identifiers"]] == ["uscc", "reg_no"]
        names = entities.names_of(session=session, entity_id=entity.id)
        assert profile["former_names"] == [n.name for n in names if n.name != entity.name] == ["上海旧名贸易有限公司"]
        assert profile["region"]["code"] == "310115"
        assert profile["penalties"] == [p for p in published if p["uscc"] == COMPANY]
        assert [p["decision_no"] for p in profile["penalties"]] == ["沪市监浦处〔2025〕2号", "沪市监浦处〔2025〕1号"]
        assert profile["listing"] is None and profile["repairs"] == []


def test_the_profile_reads_only_the_parts_there_are(
    client: TestClient, keys: dict[str, str], engine: Engine, set_today: Callable[[date], None]
) -> None:
    set_today(date(2025, 6, 2))
    deliver(
        client,
        keys["pd"],
        record("沪市监浦处〔2025〕1号", date(2025, 1, 10), uscc=COMPANY),
        record("沪市监浦处〔2025〕9号", date(2025, 1, 10), uscc=QUIET, penalty_types="警告", content="警告"),
    )
    # the entity, its identifiers, names and published decisions: one statement, with or without decisions
    for code, count in ((QUIET, 0), (COMPANY, 1)):
        with statements(engine) as seen:
            profile = client.get(f"/api/v1/entities/{code}").json()
        assert len(profile["penalties"]) == count and profile["listing"] is None and len(seen) == 1, seen


def _autocommits(conn: Connection) -> bool:
    """Whether the driver connection under ``conn`` runs without transactions."""
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        return bool(raw.autocommit)  # type: ignore[union-attr]
    return raw.isolation_level is None  # type: ignore[union-attr]


def test_a_profile_reads_outside_a_transaction_unless_one_has_begun(engine: Engine) -> None:
    with Session(engine) as fresh:
        portal.without_transaction(fresh)
        assert _autocommits(fresh.connection())
    with Session(engine) as busy:
        busy.execute(text("SELECT 1"))
        portal.without_transaction(busy)  # left as it is, without a warning
        assert not _autocommits(busy.connection())
    with engine.connect() as conn:  # connections go back to the pool as they were
        assert not _autocommits(conn)
