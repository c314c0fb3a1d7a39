"""A single check on SQLite runs on the event loop on a connection that never waits; when the
database is held by another writer it is done in the thread pool instead, and WAL checkpoints
run in the thread pool. On PostgreSQL it always runs in the thread pool."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.routers import checks as routes
from tests.helpers import bearer
from tests.test_blacklist import COMPANY, OTHER
from tests.test_sanctions import _world, check


def _trail(client: TestClient, keys: dict[str, str]) -> dict[int, str]:
    rows = client.get("/api/v1/audit/checks", params={"limit": 1000}, headers=bearer(keys["admin"])).json()["data"]
    return {r["id"]: r["decision"] for r in rows}


def test_a_check_waits_in_the_thread_pool_while_another_writer_holds_the_database(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None], database_url: str, backend: str
) -> None:
    _world(client, keys, set_today)
    first = check(client, keys["bank"], OTHER, "financing")
    app = client.app
    if backend != "sqlite":
        assert routes._nonblocking(app) is None  # type: ignore[arg-type]
        return
    on_loop = app.state.checks_on_loop  # type: ignore[attr-defined]
    assert on_loop >= 1
    holder = sqlite3.connect(make_url(database_url).database or "", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as an import holds it
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        held = check(client, keys["bank"], COMPANY, "financing")
    finally:
        release.join()
        holder.close()
    assert held["decision"] == "restricted"
    assert app.state.checks_on_loop == on_loop  # type: ignore[attr-defined]  # answered in the pool
    assert check(client, keys["bank"], OTHER, "financing")["decision"] == "clear"
    assert app.state.checks_on_loop == on_loop + 1  # type: ignore[attr-defined]  # back on the loop
    trail = _trail(client, keys)
    assert trail[first["check_id"]] == "clear" and trail[held["check_id"]] == "restricted"


def test_checks_on_the_loop_checkpoint_in_the_background(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    _world(client, keys, set_today)
    ran: list[object] = []
    monkeypatch.setattr(routes, "CHECKPOINT_EVERY", 3)
    monkeypatch.setattr(routes, "checkpoint", lambda engine: ran.append(engine))
    answers = [check(client, keys["pd"], OTHER)["check_id"] for _ in range(7)]
    assert len(set(answers)) == 7 and set(answers) <= set(_trail(client, keys))
    if backend == "sqlite":
        assert ran == [client.app.state.engine] * 2  # type: ignore[attr-defined]
    else:
        assert ran == []


def test_the_never_waiting_engine_refuses_to_wait(engine, backend: str) -> None:  # type: ignore[no-untyped-def]
    from registry.db import checkpoint, make_nonblocking_engine

    fast = make_nonblocking_engine(engine)
    if backend != "sqlite":
        assert fast is None
        return
    assert fast is not None
    with fast.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    fast.dispose()
    checkpoint(engine)  # runs without error on the ordinary engine


def test_the_loop_keeps_one_connection_and_no_transaction_between_checks(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None], backend: str
) -> None:
    _world(client, keys, set_today)
    first = check(client, keys["bank"], OTHER, "financing")
    app = client.app
    if backend != "sqlite":
        assert getattr(app.state, "loop_connection", None) is None  # type: ignore[attr-defined]
        return
    held = app.state.loop_connection  # type: ignore[attr-defined]
    second = check(client, keys["bank"], COMPANY, "financing")
    assert app.state.loop_connection is held  # type: ignore[attr-defined]
    # between checks it holds no transaction (no snapshot that would stop a checkpoint)
    assert not held.in_transaction() and not held.connection.dbapi_connection.in_transaction
    held.close()  # as if it had been lost: the next check opens another
    third = check(client, keys["bank"], OTHER, "financing")
    assert app.state.loop_connection is not held and not app.state.loop_connection.closed  # type: ignore[attr-defined]
    trail = _trail(client, keys)
    assert [trail[a["check_id"]] for a in (first, second, third)] == ["clear", "restricted", "clear"]


def test_fast_commit_checks_on_postgresql_commit_without_waiting_for_the_disk(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    """``XINYONG_CHECK_COMMIT=fast``: on PostgreSQL a check runs on connections with
    ``synchronous_commit`` off, and is stored as before; the app's own engine keeps waiting for
    the disk. On SQLite (whose commits never wait for the disk) nothing changes."""
    _world(client, keys, set_today)
    app = client.app
    monkeypatch.setattr(app.state.settings, "check_commit", "fast")  # type: ignore[attr-defined]
    answered = [check(client, keys["bank"], code, "financing") for code in (COMPANY, OTHER)]
    trail = _trail(client, keys)
    assert [trail[a["check_id"]] for a in answered] == ["restricted", "clear"]
    fast = getattr(app.state, "check_engine", None)  # type: ignore[attr-defined]
    if backend == "sqlite":
        assert fast is None and app.state.checks_on_loop >= 2  # type: ignore[attr-defined]
        return
    assert fast is not None
    with fast.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    with app.state.engine.connect() as connection:  # type: ignore[attr-defined]
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_postgresql_checks_commit_as_they_write_and_survive_a_lost_connection(
    client: TestClient, keys: dict[str, str], set_today: Callable[[date], None], backend: str
) -> None:
    """On PostgreSQL a check runs on an autocommit connection of its own engine, durable by
    default: its record and audit event are one statement, stored together. A pooled
    connection the server has closed is found at checkout and replaced, so the next check is
    answered, not failed. (SQLite answers on its event-loop connection: nothing to test.)"""
    _world(client, keys, set_today)
    app = client.app
    first = check(client, keys["bank"], COMPANY, "financing")
    engine = getattr(app.state, "check_engine", None)
    if backend == "sqlite":
        assert engine is None
        return
    assert engine is not None
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        assert connection.connection.dbapi_connection.autocommit
        backend_pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with app.state.engine.connect() as connection:  # type: ignore[attr-defined]
        connection.exec_driver_sql("SELECT pg_terminate_backend(%s)", (backend_pid,))
        connection.commit()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the server closes the socket soon after
        with app.state.engine.connect() as connection:  # type: ignore[attr-defined]
            gone = not connection.exec_driver_sql(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend_pid,)
            ).first()
        if gone:
            break
        time.sleep(0.05)
    second = check(client, keys["bank"], OTHER, "financing")
    trail = _trail(client, keys)
    assert trail[first["check_id"]] == "restricted" and trail[second["check_id"]] == "clear"
    events = client.get("/api/v1/audit", params={"action": "check.financing"}, headers=bearer(keys["admin"])).json()
    details = {e["detail"]["check_id"]: e["outcome"] for e in events["data"]}
    assert details[first["check_id"]] == "restricted" and details[second["check_id"]] == "clear"


def test_a_big_batch_leaves_the_wal_empty_and_its_connection_as_it_was(
    client: TestClient,
    keys: dict[str, str],
    set_today: Callable[[date], None],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    backend: str,
) -> None:
    """A batch stored in its own thread commits, then empties the WAL there (SQLite): the next
    write appends to an empty file instead of writing over pages the system may have dropped.
    The pooled connection it used keeps its automatic checkpoint and busy timeout."""
    import registry.db as db
    from registry import sanctions

    _world(client, keys, set_today)
    monkeypatch.setattr(sanctions, "RECORD_IN_THREAD", 1)
    used: list[object] = []
    real = db.commit_and_truncate

    def spy(dbapi: object) -> None:
        used.append(dbapi)
        real(dbapi)

    monkeypatch.setattr(db, "commit_and_truncate", spy)
    codes = [OTHER, COMPANY, "12345"]
    response = client.post(
        "/api/v1/checks/batch", json={"codes": codes, "action": "financing"}, headers=bearer(keys["bank"])
    )
    assert response.status_code == 200, response.text
    if backend != "sqlite":
        assert used == []
    else:
        wal = Path(f"{make_url(database_url).database}-wal")
        assert wal.stat().st_size == 0
        [dbapi] = used
        cursor = dbapi.cursor()  # type: ignore[attr-defined]
        assert cursor.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        cursor.close()
    ids = [r["check_id"] for r in response.json()["results"]]
    trail = _trail(client, keys)
    assert [trail[i] for i in ids] == ["clear", "restricted", "invalid"]


def test_commit_and_truncate_does_not_wait_for_a_reader(tmp_path: Path) -> None:
    """With a reader still on the WAL the commit is kept and the checkpoint copies what it can
    without waiting for the reader (the WAL stays, for a later checkpoint); once the reader
    is gone the WAL is emptied. Settings come back as they were."""
    from registry.db import commit_and_truncate

    path = str(tmp_path / "wal.db")
    writer = sqlite3.connect(path, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA busy_timeout=60000")  # a checkpoint that waited would wait a minute
    writer.execute("CREATE TABLE t (v TEXT)")
    writer.commit()
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)  # holds its snapshot
    writer.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 2000)
    started = time.monotonic()
    commit_and_truncate(writer)
    assert time.monotonic() - started < 20  # not the busy timeout: it did not wait
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)  # its snapshot still
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (2000,)
    assert writer.execute("PRAGMA busy_timeout").fetchone() == (60000,)
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    writer.execute("INSERT INTO t VALUES ('y')")
    commit_and_truncate(writer)
    assert wal.stat().st_size == 0
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (2001,)
    reader.close()
    writer.close()


def test_a_failed_checkpoint_after_the_commit_keeps_the_commit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The checkpoint is housekeeping: should it fail, the commit before it stands, the error
    is logged, and the connection's settings come back."""
    from registry.db import commit_and_truncate

    path = str(tmp_path / "wal.db")
    real = sqlite3.connect(path, check_same_thread=False)
    real.execute("PRAGMA journal_mode=WAL")
    real.execute("CREATE TABLE t (v TEXT)")
    real.commit()

    class Cursor:
        def __init__(self) -> None:
            self.inner = real.cursor()

        def execute(self, sql: str) -> sqlite3.Cursor:
            if "wal_checkpoint" in sql:
                raise sqlite3.OperationalError("disk I/O error")
            return self.inner.execute(sql)

        def close(self) -> None:
            self.inner.close()

    class Connection:
        def cursor(self) -> Cursor:
            return Cursor()

        def commit(self) -> None:
            real.commit()

    real.execute("INSERT INTO t VALUES ('kept')")
    with caplog.at_level("WARNING", logger="xinyong.db"):
        commit_and_truncate(Connection())
    assert "checkpoint" in caplog.text
    other = sqlite3.connect(path)
    assert other.execute("SELECT v FROM t").fetchall() == [("kept",)]
    other.close()
    assert real.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    assert real.execute("PRAGMA busy_timeout").fetchone() == (5000,)  # sqlite3's default
    real.close()
