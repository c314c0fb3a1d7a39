"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from registry.db import current_revision, ensure_schema, head_revision, make_engine, upgrade
from registry.errors import SchemaNotReady
from registry.models import metadata


def test_migrated_schema_matches_the_models(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_schema_checks_report_state(fresh_database) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(fresh_database())
    try:
        try:
            ensure_schema(engine)
            raise AssertionError("an empty database must not pass ensure_schema")
        except SchemaNotReady as exc:
            assert exc.code == "schema_missing" and "xinyong init" in exc.message
        assert upgrade(engine) == head_revision(engine)
        assert upgrade(engine) == head_revision(engine)
        assert current_revision(engine) == head_revision(engine)
        ensure_schema(engine)
    finally:
        engine.dispose()
