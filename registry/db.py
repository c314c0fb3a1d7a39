"""Engines, sessions and schema management for SQLite (default) and PostgreSQL.

SQLite gets WAL journaling, foreign keys and a busy timeout on every connection; PostgreSQL
runs on psycopg 3. The schema is owned by Alembic (``registry/migrations``): ``upgrade()`` is
what ``xinyong init`` runs, and it is safe to run any number of times.
"""

from __future__ import annotations

import json
import logging
import select as select_module
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Date, Integer, Numeric, String, Table, any_, event, func, literal, select, text
from sqlalchemy import column as sql_column
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Session, SQLModel, create_engine

from registry.errors import SchemaNotReady

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

# What the Core-level services run their statements on: an ORM session (its connection, in its
# transaction), or a plain ``Connection`` for hot single-row routes, where the session's own
# bookkeeping (begin, flush, commit, close) costs more than the statements it runs.
Executor = Session | Connection


def connection_of(db: Executor) -> Connection:
    """The connection ``db`` runs on (a session begins its transaction here if it has none)."""
    return db if isinstance(db, Connection) else db.connection()


def dialect_of(db: Executor) -> str:
    """``sqlite`` or ``postgresql``."""
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


class ExactDecimal(TypeDecorator[Decimal]):
    """Money in 万元 with up to 6 decimals, stored exactly: NUMERIC(20, 6) on PostgreSQL, and
    the decimal's text on SQLite, whose NUMERIC affinity would turn it into a float."""

    impl = Numeric(20, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """NUMERIC where the engine has it, text elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(20, 6, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Decimals go in as they are (as text on SQLite)."""
        if value is None:
            return None
        value = Decimal(value)
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Always a Decimal back, never a float."""
        return None if value is None else Decimal(str(value))


def allocate_ids(session: Executor, table: Table, count: int) -> list[int]:
    """Reserve ``count`` primary keys for a bulk insert without RETURNING (which SQLite would
    run one row at a time). PostgreSQL draws them from the column's sequence; SQLite, whose
    writers are serialised, continues after the current maximum inside this transaction."""
    if count <= 0:
        return []
    name = table.name
    if dialect_of(session) == "postgresql":
        # the sequence's name looked up once (a scalar subquery), not once a row: 100,000 ids
        # took 0.27 s the other way, 0.09 s this way
        rows = session.execute(
            text("SELECT nextval((SELECT pg_get_serial_sequence(:t, 'id'))::regclass) FROM generate_series(1, :n)"),
            {"t": name, "n": count},
        ).scalars()
        return sorted(int(r) for r in rows)
    start = int(session.execute(text(f'SELECT coalesce(max(id), 0) FROM "{name}"')).scalar_one()) + 1
    return list(range(start, start + count))


def insert_with_ids(session: Executor, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk-insert rows that have no ``id`` yet and return their new ids, in order, safely
    beside concurrent writers: PostgreSQL draws them from the sequence first; SQLite inserts
    first (which takes the database's write lock) and then reads the contiguous range it got,
    so two transactions never pick the same ids."""
    if not rows:
        return []
    if dialect_of(session) == "postgresql":
        ids = allocate_ids(session, table, len(rows))
        bulk_insert(session, table, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
        return ids
    bulk_insert(session, table, rows)
    last = int(session.execute(text(f'SELECT max(id) FROM "{table.name}"')).scalar_one())
    return list(range(last - len(rows) + 1, last + 1))


def one_of(session: Executor, column: Any, values: Sequence[Any]) -> Any:
    """``column IN (values)`` as one bound parameter (SQLite ``json_each``, PostgreSQL
    ``= ANY(array)``), so a look-up of thousands of keys is not thousands of parameters."""
    if len(values) <= 64:  # a few keys: plain bound parameters let the planner use the index directly
        return column.in_(list(values))
    if dialect_of(session) == "postgresql":
        element = column.type if not isinstance(column.type, Integer) else Integer()
        return column == any_(literal(list(values), ARRAY(element)))
    return column.in_(select(sql_column("value")).select_from(func.json_each(json_keys(values))))


def json_keys(values: Sequence[Any]) -> str:
    """Keys (text or integers) as one JSON list, for SQLite's ``json_each``. orjson: a batch
    check binds lists of 85,000 codes, which the standard library wrote several times slower."""
    return orjson.dumps(values if isinstance(values, list) else list(values)).decode()


def _memo(process: Any) -> Any:
    """A bind processor that reuses its last answer: a bulk insert passes the same timestamp
    to every row, and SQLite's datetime formatting is not cheap."""
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return convert


def bulk_insert(session: Executor, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows set-based, past the ORM: ``executemany`` on the raw SQLite cursor,
    ``COPY … FROM STDIN`` on PostgreSQL. Values are converted by the columns' own SQLAlchemy
    bind processors, so they are stored exactly as an ORM insert would store them."""
    if not rows:
        return
    names = list(rows[0])
    cols = [table.c[n] for n in names]
    connection = connection_of(session)
    dialect = connection.dialect
    if dialect.name == "postgresql":
        raw = connection.connection.dbapi_connection
        quoted = ", ".join(f'"{n}"' for n in names)
        json_cols = {i for i, c in enumerate(cols) if isinstance(c.type, JSON)}
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for row in rows:
                values = [row[n] for n in names]
                for i in json_cols:
                    if values[i] is not None:
                        values[i] = json.dumps(values[i], ensure_ascii=False)
                copy.write_row(values)
        return
    processors = [(i, c.type._cached_bind_processor(dialect)) for i, c in enumerate(cols)]
    # days repeat across rows (a few thousand of them), other values mostly from row to row
    active = [(i, _remember(p, (date,)) if type(cols[i].type) is Date else _memo(p)) for i, p in processors if p]
    params = []
    for row in rows:
        values = [row[n] for n in names]
        for i, proc in active:
            values[i] = proc(values[i])
        params.append(values)
    placeholders = ", ".join("?" for _ in names)
    sql = f'INSERT INTO "{table.name}" ({", ".join(chr(34) + n + chr(34) for n in names)}) VALUES ({placeholders})'
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
    finally:
        cursor.close()


def _remember(process: Any, kinds: tuple[type, ...]) -> Any:
    """A processor that remembers its answers for values of exactly these types (equal values
    of one of them are the same value): rows share a few thousand days and amounts."""
    known: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        out = known.get(value) if type(value) in kinds else None
        if out is None:
            out = process(value)
            if type(value) in kinds:
                if len(known) > 100_000:
                    known.clear()
                known[value] = out
        return out

    return convert


@lru_cache(maxsize=1)
def _plain_dialect() -> Dialect:
    return sqlite.dialect()  # type: ignore[no-any-return]


def plain_codec(
    table: Table, names: Sequence[str]
) -> tuple[Callable[[list[Any]], tuple[Any, ...]], Callable[[Sequence[Any]], list[Any]]]:
    """Encode and decode rows of ``names`` in their *plain* form: what the columns' own SQLite
    bind processors make of them (text for dates and decimals, 0/1 for booleans). It is what
    SQLite stores, what PostgreSQL's COPY reads as text, and it pickles cheaply, so the reader
    process can prepare rows in it; decoding (the SQLite result processors) gives the Python
    values back."""
    dialect = _plain_dialect()
    cols = [table.c[n] for n in names]
    binds = [
        (i, _remember(p, (date,)))
        for i, c in enumerate(cols)
        if (p := c.type._cached_bind_processor(dialect)) is not None
    ]
    results = [
        (i, _remember(p, (str, int)))
        for i, c in enumerate(cols)
        if (p := c.type._cached_result_processor(dialect, None))
    ]

    def encode(values: list[Any]) -> tuple[Any, ...]:
        for i, proc in binds:
            if values[i] is not None:  # NULL stays NULL whatever the type
                values[i] = proc(values[i])
        return tuple(values)

    def decode(values: Sequence[Any]) -> list[Any]:
        out = list(values)
        for i, proc in results:
            if out[i] is not None:
                out[i] = proc(out[i])
        return out

    return encode, decode


def insert_plain(session: Session, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows already in their plain form (:func:`plain_codec`; PostgreSQL also takes
    Python values there, as COPY converts each by its type): ``executemany`` on the raw SQLite
    cursor, ``COPY … FROM STDIN`` on PostgreSQL."""
    if not rows:
        return
    connection = session.connection()
    quoted = ", ".join(f'"{n}"' for n in names)
    raw = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" for _ in names)})', rows)
    finally:
        cursor.close()


class NotPlain(ValueError):
    """A statement :class:`Prepared` cannot run: it renders a parameter per call."""


class Prepared:
    """A Core statement compiled once per dialect and run straight on the DBAPI cursor of the
    caller's connection (its transaction), for the few single-row statements every request
    of a hot route runs: a check's look-up, its record and its audit event.

    ``Connection.execute`` spends about twice as long in its own bookkeeping (compiled-cache
    look-up, execution context, result wrapping) as SQLite spends running such a statement.
    Here the parameters go through the same bind processors SQLAlchemy would apply (dates,
    JSON), and the cursor comes back raw: only for statements whose result columns need no
    type processing (integers and text)."""

    def __init__(self, statement: Any, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._plans: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {}

    def _plan(self, dialect: Dialect) -> tuple[str, Callable[[dict[str, Any]], Any]]:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        if "POSTCOMPILE" in compiled.string:  # an expanding IN or a literal rendered per call
            raise NotPlain(f"Prepared takes plain parameters only: {compiled.string}")
        defaults = compiled.construct_params(_check=False)  # constants bound in the statement
        processors = {
            name: bind.type._cached_bind_processor(dialect) for name, bind in compiled.binds.items()
        }  # fmt: skip
        # positional styles name a parameter once per use (SQLite's ``?`` for a date compared
        # twice), so the plan is the sequence of uses, not a set of names
        steps = [(name, processors.get(name)) for name in (compiled.positiontup or defaults)]
        # the values in order by one C call, then the few that need converting (dates, JSON)
        pick = itemgetter(*(name for name, _ in steps)) if steps else (lambda _merged: ())
        convert = [(i, process) for i, (_name, process) in enumerate(steps) if process]
        single = len(steps) == 1

        def positional(given: dict[str, Any]) -> tuple[Any, ...]:
            picked = pick(defaults | given)
            values = [picked] if single else list(picked)
            for i, process in convert:
                values[i] = process(values[i])
            return tuple(values)

        def named(given: dict[str, Any]) -> dict[str, Any]:
            merged = defaults | given
            return {name: process(merged[name]) if process else merged[name] for name, process in steps}

        return compiled.string, positional if dialect.positional else named

    def execute(self, connection: Any, values: dict[str, Any]) -> Any:
        """Run on ``connection`` (a SQLAlchemy ``Connection``, in its transaction) and return
        the DBAPI cursor, for the caller to fetch from and close."""
        dialect = connection.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._plan(dialect)
        sql, params = plan
        if not connection.in_transaction():
            # begin as Connection.execute would, so that the caller's commit() commits this
            # statement rather than finding no transaction and leaving it to the pool's rollback
            connection.begin()
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, params(values))
        except BaseException:
            cursor.close()
            raise
        return cursor

    def scalar(self, connection: Any, values: dict[str, Any]) -> Any:
        """The first column of the first row (e.g. the id an ``INSERT … RETURNING`` answers)."""
        cursor = self.execute(connection, values)
        try:
            return cursor.fetchone()[0]
        finally:
            cursor.close()

    def all(self, connection: Any, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, as plain tuples."""
        cursor = self.execute(connection, values)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()


def plain_rows(session: Executor, statement: Any, values: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Every row of a select as plain tuples, run on the DBAPI cursor as :class:`Prepared`
    runs, compiled for this one call: for the few big look-ups of a batch (thousands of keys
    bound as one parameter by :func:`one_of`), where wrapping each result row cost a third as
    much as SQLite spent finding it. The values come back as the driver gives them (a date
    is text on SQLite: see :func:`as_date`). A statement with an expanding ``IN`` (a few
    keys) runs through SQLAlchemy instead."""
    connection = connection_of(session)
    try:
        return Prepared(statement).all(connection, values or {})
    except NotPlain:
        return [tuple(row) for row in connection.execute(statement, values or {}).all()]


def as_date(value: Any) -> Any:
    """A date column's value as a ``date``, whether the driver gave a date or ISO text (a
    timestamp's text gives its day); ``None`` stays ``None``."""
    return value if value is None or isinstance(value, date) else date.fromisoformat(str(value)[:10])


def normalize_url(url: str) -> str:
    """Accept the PostgreSQL URL spellings people paste and point them at psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # A 128 MiB page cache keeps the indexes of a bulk import in memory; temp data stays in RAM.
    cur.execute("PRAGMA cache_size=-131072")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def make_engine(url: str, *, echo: bool = False, **options: Any) -> Engine:
    """A new engine for ``url`` with the registry's connection settings (``options`` go to
    ``create_engine``, over the registry's own)."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, **{"pool_pre_ping": True, **options})


def _sqlite_never_wait(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=0")
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def make_nonblocking_engine(engine: Engine) -> Engine | None:
    """For a SQLite file, an engine on the same database whose connections never wait: no
    busy timeout (a write that would wait for another writer fails at once with "database is
    locked") and no automatic checkpoint (the file is brought up to date from the WAL by the
    ordinary engine's connections, and by :func:`checkpoint`). What the API may run on its
    event loop; ``None`` for PostgreSQL or an in-memory database, where nothing may."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return _sibling(engine, _sqlite_never_wait)


def _sibling(engine: Engine, on_connect: Callable[[Any, Any], None] | None = None, **options: Any) -> Engine:
    """A new engine on ``engine``'s database with the registry's settings and ``options``, whose
    connections also run ``on_connect`` (after the registry's own connect hook)."""
    other = make_engine(engine.url.render_as_string(hide_password=False), **options)
    if on_connect is not None:
        event.listen(other, "connect", on_connect)
    return other


def _postgres_fast_commit(dbapi_conn: Any, _record: Any) -> None:
    autocommit, dbapi_conn.autocommit = dbapi_conn.autocommit, True
    with dbapi_conn.cursor() as cur:
        cur.execute("SET synchronous_commit TO off")
    dbapi_conn.autocommit = autocommit


def _discard_if_lost(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """At checkout, without a round trip: a connection the server closed (a restart, an idle
    timeout, a terminated backend) has its socket readable, with the server's last message
    or the end of the stream, while no query is pending. The pool is told to discard it and
    hand out another, as ``pool_pre_ping`` would after a ``SELECT 1``. A live connection with
    something unread (a parameter the server reports after a configuration reload) is
    replaced too: one new connection, nothing lost."""
    driver = record.driver_connection
    if driver.closed or _readable(driver.fileno()):
        raise DisconnectionError("connection closed by the server")


def _readable(fd: int) -> bool:
    """Whether ``fd`` has something to read right now (``poll``: no limit on the descriptor's
    number, where ``select`` stops at 1,024; ``select`` where there is no ``poll``)."""
    if hasattr(select_module, "poll"):
        poller = select_module.poll()
        poller.register(fd, select_module.POLLIN)
        return bool(poller.poll(0))
    return bool(select_module.select([fd], [], [], 0)[0])


def make_check_engine(engine: Engine, *, fast: bool = False) -> Engine | None:
    """For PostgreSQL, the engine single checks run on: autocommit connections, so that a
    check's reads start no transaction and its one write (the check with its audit event,
    ``sanctions.check_one``) commits as it runs; a lost connection found at checkout from its
    socket instead of a ping. A check then costs two round trips (a restricted one two more, for
    its listing), where ``BEGIN``, a ping, two inserts and ``COMMIT`` made six. With ``fast``,
    commits do not wait for their WAL record to reach the disk (``synchronous_commit`` off):
    PostgreSQL's own trade for many small, individually cheap writes; a crash of the server
    can lose the last moments of such commits (up to three times ``wal_writer_delay``), never
    leave one half-written. ``None`` elsewhere (a SQLite commit does not wait for the disk:
    ``synchronous=NORMAL`` in WAL mode)."""
    if engine.dialect.name != "postgresql":
        return None
    other = _sibling(engine, _postgres_fast_commit if fast else None, isolation_level="AUTOCOMMIT", pool_pre_ping=False)
    event.listen(other, "checkout", _discard_if_lost)
    return other


def checkpoint(engine: Engine) -> None:
    """Copy what the SQLite WAL holds back into the database file and have the next write start
    the WAL from its beginning again (``RESTART``); a no-op elsewhere. It holds off other
    writers while it runs (a never-waiting connection gets "database is locked" meanwhile). A
    ``PASSIVE`` checkpoint would not: with writes going on, it never catches the WAL's end,
    and the WAL grows without limit."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")


def commit_and_truncate(dbapi_connection: Any) -> None:
    """Commit a SQLite DBAPI connection's transaction, then copy the WAL back into the database
    file and cut the WAL to nothing (``wal_checkpoint(TRUNCATE)``): what a big write (a batch
    of checks, an import) commits with.

    Why: the automatic checkpoint leaves the WAL at its largest (273 MB after an import of
    200,000 rows, more than the database it belongs to) and the next writes go over it in
    place. Each frame of it (a 24-byte header, then the 4 KiB page) shares a disk block with
    its neighbour, so once the system has dropped the old WAL from its page cache, a big
    commit reads it back first: 18 MB and 0.27 s for a batch of 100,000 checks, where a commit
    to an empty WAL only appends (0.03-0.07 s). Done on the connection that wrote, its page
    cache stays valid (a checkpoint by another connection resets the WAL under it). The
    automatic checkpoint is off for the commit, so the pages are not copied twice.

    The checkpoint never waits (no busy timeout for it): with a reader still on the WAL it
    copies what it can and leaves the rest to a later checkpoint, as a ``PASSIVE`` one would.
    Its failure is logged, not raised: the commit has happened. The connection's settings are
    restored."""
    cursor = dbapi_connection.cursor()
    try:
        pages = int(cursor.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        waits = int(cursor.execute("PRAGMA busy_timeout").fetchone()[0])
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        try:
            dbapi_connection.commit()
            cursor.execute("PRAGMA busy_timeout=0")
            try:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error:  # housekeeping only: a later checkpoint does it
                logging.getLogger("xinyong.db").warning("WAL checkpoint after a commit failed", exc_info=True)
        finally:
            cursor.execute(f"PRAGMA busy_timeout={waits}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
    finally:
        cursor.close()


def big_commit(connection: Connection) -> Callable[[], None]:
    """How a big write on ``connection`` commits, as a call on its DBAPI connection alone (no
    SQLAlchemy state: it may run in another thread): on SQLite :func:`commit_and_truncate`,
    elsewhere the driver's commit."""
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    if connection.dialect.name == "sqlite":
        return lambda: commit_and_truncate(dbapi)
    return dbapi.commit


def commit_big(session: Session) -> None:
    """Commit a session that wrote much (:func:`big_commit`: on SQLite the WAL is emptied
    behind it)."""
    session.flush()  # what the session holds goes into the same transaction
    big_commit(session.connection())()
    session.commit()  # nothing is left to commit: this ends the session's transaction


@lru_cache(maxsize=16)
def get_engine(url: str, echo: bool = False) -> Engine:
    """The shared engine for ``url`` (one pool per database per process)."""
    return make_engine(url, echo=echo)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("registry").joinpath("migrations")))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> str:
    """Create or upgrade the schema to the newest migration; returns the revision now in force."""
    from alembic import command

    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return current_revision(engine) or ""


def head_revision(engine: Engine) -> str:
    """The newest migration shipped with this version of the code."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    return head or ""


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None when it has no schema."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_schema(engine: Engine) -> None:
    """Raise :class:`SchemaNotReady` with the mending command unless the schema is current."""
    current = current_revision(engine)
    if current is None:
        raise SchemaNotReady(
            f"the database at {engine.url.render_as_string(hide_password=True)} has no schema; "
            "run `xinyong init` first",
            code="schema_missing",
        )
    if current != head_revision(engine):
        raise SchemaNotReady(
            f"the database schema is at revision {current}, this version needs {head_revision(engine)}; "
            "run `xinyong init` to upgrade it",
            code="schema_old",
        )
