"""listing: one index answers "is this entity's listing in force today" without the row

A batch check asks, for every entity it found (some 60,000 in a batch of 100,000 codes),
whether one of its listings is in force on the day. With an index on ``entity_id`` alone each
answer read the listing's row for its status and dates; ``ix_listing_in_force`` holds them,
and replaces ``ix_listing_entity_id``, its first column.

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
    with op.batch_alter_table("listing", schema=None, recreate="never") as batch_op:
        batch_op.create_index("ix_listing_in_force", ["entity_id", "status", "listed_from", "listed_until"])
        batch_op.drop_index("ix_listing_entity_id")


def downgrade() -> None:
    with op.batch_alter_table("listing", schema=None, recreate="never") as batch_op:
        batch_op.create_index("ix_listing_entity_id", ["entity_id"], unique=False)
        batch_op.drop_index("ix_listing_in_force")
