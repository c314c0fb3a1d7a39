"""listing_decision keeps the number, agency and date of its decision

A check shows, for each listing in force, the decisions behind it (number, agency, date).
Reading them from the penalty table meant one random row of a multi-GB table per decision
(a batch of 100,000 codes meets some 30,000); the link now carries them. The number and the
agency are part of the decision's key and never change; the date is kept in step when a
re-delivery changes it (registry.penalties).

Revision ID: 0006
Revises: 0003s
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003s"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# the links already stored get their decision's fields (tests/test_sanctions.py runs this too)
BACKFILL = (
    "UPDATE listing_decision SET "
    "decision_no = (SELECT p.decision_no FROM penalty_decision p WHERE p.id = listing_decision.decision_id), "
    "agency_id = (SELECT p.agency_id FROM penalty_decision p WHERE p.id = listing_decision.decision_id), "
    "decision_date = (SELECT p.decision_date FROM penalty_decision p WHERE p.id = listing_decision.decision_id)"
)


def upgrade() -> None:
    with op.batch_alter_table("listing_decision", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("decision_no", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("agency_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decision_date", sa.Date(), nullable=True))
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("listing_decision", schema=None) as batch_op:
        batch_op.drop_column("decision_date")
        batch_op.drop_column("agency_id")
        batch_op.drop_column("decision_no")
