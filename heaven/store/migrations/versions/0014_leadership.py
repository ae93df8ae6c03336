"""the leader's epoch: one row, bumped on every take-over (the fencing token)

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "leadership",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "epoch": 0, "holder": "", "url": "", "since": 0.0}])


def downgrade() -> None:
    op.drop_table("leadership")
