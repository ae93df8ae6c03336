"""a deployment remembers when it was started

Revision ID: 0010
Revises: 0008

A deployment created but not started is held; ``released_at`` is when someone started
it (released the hold). The deployment service this product replaces answers that
time as ``started_at`` even while no node runs it yet (it kept books only), so it is
kept apart from ``started_at``, which is when a process began.
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("released_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("released_at")
