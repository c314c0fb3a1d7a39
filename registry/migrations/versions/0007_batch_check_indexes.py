"""indexes that answer a batch check's look-ups without reading table rows

A batch of 100,000 codes finds some 60,000 entities by their USCC and asks, for each, whether
one of its listings is in force on the day.
- ``ix_entity_uscc_shown`` (uscc, id, name, kind): what a check shows of an entity found by its
  USCC, from the index alone (the unique index on ``uscc`` needs the row as well).
- ``ix_listing_in_force`` (entity_id, status, listed_from, listed_until): whether a listing is
  in force, without its row; it replaces ``ix_listing_entity_id``, its first column.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entity", schema=None, recreate="never") as batch_op:
        batch_op.create_index("ix_entity_uscc_shown", ["uscc", "id", "name", "kind"])
    with op.batch_alter_table("listing", schema=None, recreate="never") as batch_op:
        batch_op.create_index("ix_listing_in_force", ["entity_id", "status", "listed_from", "listed_until"])
        batch_op.drop_index("ix_listing_entity_id")


def downgrade() -> None:
    with op.batch_alter_table("listing", schema=None, recreate="never") as batch_op:
        batch_op.create_index("ix_listing_entity_id", ["entity_id"], unique=False)
        batch_op.drop_index("ix_listing_in_force")
    with op.batch_alter_table("entity", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_entity_uscc_shown")
