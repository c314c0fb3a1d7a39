"""entity_name_gram: the bigram postings the public name search walks

Revision ID: 0003s
Revises: 0002
Create Date: 2026-11-22

Creates the posting table (one clustered primary key; WITHOUT ROWID on SQLite) and fills it
from the names already stored, so an upgraded registry finds its existing entities at once.
The bigram cut is written out here rather than imported, so this migration keeps meaning what
it meant when it was written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003s"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 20_000


def upgrade() -> None:
    op.create_table(
        "entity_name_gram",
        sa.Column("gram", sa.String(length=2), nullable=False),
        sa.Column("at_start", sa.Boolean(), nullable=False),
        sa.Column("name_len", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("gram", "at_start", "name_len", "entity_id", name=op.f("pk_entity_name_gram")),
        sqlite_with_rowid=False,
    )
    _backfill()


def _backfill() -> None:
    """Postings for every stored name, at the length of its entity's current name."""
    conn = op.get_bind()
    gram = sa.table(
        "entity_name_gram",
        sa.column("gram", sa.String),
        sa.column("at_start", sa.Boolean),
        sa.column("name_len", sa.Integer),
        sa.column("entity_id", sa.Integer),
    )
    rows = conn.execute(
        sa.text(
            "SELECT n.entity_id, n.search_key, e.name FROM entity_name n JOIN entity e ON e.id = n.entity_id "
            "ORDER BY n.entity_id"
        )
    )
    postings: set[tuple[str, bool, int, int]] = set()
    last = None
    for entity_id, key, current in rows:
        if entity_id != last and len(postings) >= _CHUNK:
            _flush(conn, gram, postings)  # only between entities: an entity's postings go in once
        last = entity_id
        postings.update((key[i : i + 2], i == 0, len(current), entity_id) for i in range(len(key) - 1))
    _flush(conn, gram, postings)


def _flush(conn: sa.Connection, gram: sa.TableClause, postings: set[tuple[str, bool, int, int]]) -> None:
    if postings:
        conn.execute(
            gram.insert(),
            [{"gram": g, "at_start": s, "name_len": n, "entity_id": e} for g, s, n, e in sorted(postings)],
        )
    postings.clear()


def downgrade() -> None:
    op.drop_table("entity_name_gram")
