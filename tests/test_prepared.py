"""``registry.db.Prepared`` runs a statement exactly as ``Connection.execute`` would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, select
from sqlmodel import Session

from registry.audit import AUDIT, record_event
from registry.db import Prepared

# a constant bound by SQLAlchemy ('ok') and a parameter used twice (``word``)
MATCHING = (
    select(AUDIT.c.id, AUDIT.c.action)
    .where(AUDIT.c.outcome == "ok", (AUDIT.c.action == bindparam("word")) | (AUDIT.c.target == bindparam("word")))
    .order_by(AUDIT.c.id)
)


def test_repeated_and_constant_parameters_match_execute(session: Session) -> None:
    ids = {
        (action, target): record_event(session=session, principal="cli:test", action=action, target=target)
        for action, target in (("a", "b"), ("b", "c"), ("c", "a"))
    }
    record_event(session=session, principal="cli:test", action="a", outcome="denied")
    connection = session.connection()
    prepared = Prepared(MATCHING)
    for word in ("a", "b", "c", "d"):
        expected = [tuple(r) for r in connection.execute(MATCHING, {"word": word}).all()]
        assert prepared.all(connection, {"word": word}) == expected
    assert prepared.all(connection, {"word": "a"}) == [(ids[("a", "b")], "a"), (ids[("c", "a")], "c")]


# PostgreSQL text cannot hold NUL; everything else goes
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=st.none() | TEXT,
    detail=st.none() | st.dictionaries(TEXT, st.integers(-(2**53), 2**53) | TEXT, max_size=3),
)
def test_prepared_insert_stores_what_the_orm_reads_back(session: Session, target, detail) -> None:  # type: ignore[no-untyped-def]
    """Dates and JSON go through the same bind processors: the row reads back as given."""
    event_id = record_event(session=session, principal="cli:test", action="x.y", target=target, detail=detail)
    row = session.connection().execute(select(AUDIT).where(AUDIT.c.id == event_id)).mappings().one()
    assert row["action"] == "x.y" and row["principal"] == "cli:test"
    assert (row["target"] is None) == (not target)
    assert row["detail"] == (detail or None)
    assert abs(row["at"].replace(tzinfo=row["at"].tzinfo or UTC) - datetime.now(UTC)).total_seconds() < 300
    session.rollback()


def test_expanding_parameters_are_refused(session: Session) -> None:
    prepared = Prepared(select(AUDIT.c.id).where(AUDIT.c.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="plain parameters"):
        prepared.all(session.connection(), {"ids": [1, 2]})
