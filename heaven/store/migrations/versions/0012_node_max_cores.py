"""a node may grow to max_cores: a VM node whose vCPUs are hot-plugged

Revision ID: 0012
Revises: 0011

A node's cores are global indices core_offset + position. A VM node that gains vCPUs
live needs room after its last core, so it registers the most it may hold and the
offsets of later nodes start after that span. None: the node never grows past what it
registered (every node before this revision).
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("max_cores", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("max_cores")
