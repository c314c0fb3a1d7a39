"""The audit log is append-only and never holds a full resident ID."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from registry.access import create_key
from registry.audit import AuditEvent, list_events, record_event
from registry.errors import PermissionDenied


def _event(session: Session, **kw) -> AuditEvent:  # type: ignore[no-untyped-def]
    event_id = record_event(
        session=session, principal=kw.pop("principal", "cli:test"), action=kw.pop("action", "thing.do"), **kw
    )
    session.commit()
    row = session.get(AuditEvent, event_id)
    assert row is not None
    return row


def test_records_who_what_when_and_outcome(session: Session, set_today) -> None:  # type: ignore[no-untyped-def]
    set_today(date(2025, 6, 30))
    key, _ = create_key(session=session, role="bank")
    from registry.access import Principal

    p = Principal(key_id=key.id or 0, prefix=key.prefix, role="bank")
    row = _event(session, principal=p, action="check.single", target="91110000600037341L", outcome="ok")
    assert row.principal == f"bank/key:{key.prefix}" and row.role == "bank"
    assert row.at.date() in {date(2025, 6, 29), date(2025, 6, 30)}  # UTC of a day in China
    rows, total = list_events(session=session, action="check.single")
    assert total == 1 and rows[0].target == "91110000600037341L"


def test_orm_update_is_refused(session: Session) -> None:
    row = _event(session)
    row.outcome = "forged"
    session.add(row)
    with pytest.raises(PermissionDenied):
        session.commit()
    session.rollback()
    assert session.exec(select(AuditEvent)).one().outcome == "ok"


def test_orm_delete_is_refused(session: Session) -> None:
    row = _event(session)
    session.delete(row)
    with pytest.raises(PermissionDenied):
        session.commit()
    session.rollback()
    assert len(session.exec(select(AuditEvent)).all()) == 1


@pytest.mark.parametrize("sql", ["UPDATE audit_event SET outcome = 'forged'", "DELETE FROM audit_event"])
def test_database_refuses_raw_update_and_delete(engine, sql: str) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        _event(s)
    with pytest.raises(DBAPIError) as info, engine.begin() as conn:
        conn.execute(text(sql))
    assert "append-only" in str(info.value)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT outcome FROM audit_event")).scalars().all() == ["ok"]


def test_resident_ids_are_masked_in_target_and_detail(session: Session) -> None:
    row = _event(
        session,
        target="110101199003074514",
        detail={"note": "查询 110101199003074514", "codes": ["11010119900307451X"]},
    )
    assert row.target == "110101********4514"
    assert "110101199003074514" not in repr(row.detail) and "11010119900307451X" not in repr(row.detail)
    rows, total = list_events(session=session, target="110101199003074514")
    assert total == 1 and rows[0].id == row.id


def test_filters_and_paging(session: Session) -> None:
    for i in range(5):
        _event(session, action="a" if i % 2 else "b", target=f"T{i}")
    rows, total = list_events(session=session, action="b", limit=2)
    assert total == 3 and [r.target for r in rows] == ["T4", "T2"]
    rows, _ = list_events(session=session, action="b", limit=2, offset=2)
    assert [r.target for r in rows] == ["T0"]
