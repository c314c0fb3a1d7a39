"""the index of listings in force also holds what a batch check shows of them

``ix_listing_in_force`` (entity_id, status, listed_from, listed_until) becomes (entity_id,
status, listed_from, listed_until, rule_id, rule_title, id): a batch check finds the listings
in force of its entities and reads their rule, title and dates from the index alone. Before, it
read some 15,000 listing rows of about 1.5 KB each, by id: 0.05 s from memory, 0.5 s from disk
on a registry of 1,000,000 entities.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ["entity_id", "status", "listed_from", "listed_until"]
AFTER = [*BEFORE, "rule_id", "rule_title", "id"]


def upgrade() -> None:
    with op.batch_alter_table("listing", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_listing_in_force")
        batch_op.create_index("ix_listing_in_force", AFTER)


def downgrade() -> None:
    with op.batch_alter_table("listing", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_listing_in_force")
        batch_op.create_index("ix_listing_in_force", BEFORE)
