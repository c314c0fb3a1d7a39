"""Fixtures: a fresh database per test on SQLite (default) or PostgreSQL.

With ``XINYONG_TEST_DATABASE_URL`` set to a PostgreSQL URL, the run creates its own schema,
builds it with the real migrations, empties every table before each test, and drops the
schema at the end. Without it, the migrations build a SQLite template once and each test
gets its own copy of that file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from api.app import create_app
from registry.config import reload_settings
from registry.db import make_engine, normalize_url, upgrade

PG_URL = os.environ.get("XINYONG_TEST_DATABASE_URL")


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema``."""
    url = make_url(normalize_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def backend() -> str:
    """Which engine this run tests: 'postgresql' or 'sqlite'."""
    return "postgresql" if PG_URL else "sqlite"


@pytest.fixture(scope="session")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """A factory of URLs of new, empty databases (no schema) on the engine under test."""
    created: list[str] = []
    admin = make_engine(PG_URL) if PG_URL else None

    def make() -> str:
        if admin is None:
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'xinyong.db'}"
        schema = f"xy_test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        created.append(schema)
        return pg_schema_url(PG_URL or "", schema)

    yield make
    if admin is not None:
        with admin.begin() as conn:
            for schema in created:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def template_url(fresh_database: Callable[[], str]) -> str:
    """One database built by the migrations, the template of every test's database."""
    url = fresh_database()
    engine = make_engine(url)
    upgrade(engine)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return url


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("XINYONG_") and name != "XINYONG_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    reload_settings()
    yield
    reload_settings()


@pytest.fixture
def database_url(template_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database with the current schema and no rows, set as XINYONG_DATABASE_URL."""
    if template_url.startswith("sqlite"):
        target = tmp_path / "xinyong.db"
        shutil.copyfile(make_url(template_url).database or "", target)
        url = f"sqlite:///{target}"
    else:
        url = template_url
        engine = make_engine(url)
        with engine.begin() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            if tables:
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        engine.dispose()
    monkeypatch.setenv("XINYONG_DATABASE_URL", url)
    reload_settings()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on this test's database."""
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on this test's database."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    """The app, over HTTP (in process), on this test's database."""
    with TestClient(create_app(engine=engine)) as c:
        yield c


@pytest.fixture
def set_today(monkeypatch: pytest.MonkeyPatch) -> Callable[[date], None]:
    """Move the registry's clock (XINYONG_TODAY)."""

    def move(day: date) -> None:
        monkeypatch.setenv("XINYONG_TODAY", day.isoformat())
        reload_settings()

    return move


@pytest.fixture
def keys(session: Session) -> dict[str, str]:
    """Agency PD (the fixtures' agency) with a key, an admin key and a bank key."""
    from registry.agencies import add_agency
    from tests.fixtures.make_fixtures import AGENCY_USCC
    from tests.helpers import make_key

    add_agency(session=session, code="PD", name="浦东", uscc=AGENCY_USCC)
    session.commit()
    return {
        "pd": make_key(session, "agency", "PD"),
        "admin": make_key(session, "admin"),
        "bank": make_key(session, "bank"),
    }
