"""a node remembers its agent's disconnect grace

Revision ID: 0013
Revises: 0012

An agent that cannot reach the controller keeps its jobs running for its
HEAVEN_AGENT_DISCONNECT_GRACE, then stops them. It announces that grace when it
registers; the controller marks a silent node ``disconnected`` after
HEAVEN_NODE_TIMEOUT and ``down`` (requeueing its jobs) only once the grace is over
too. Nodes registered before keep none (0): down right after the timeout, as before.
The ``disconnected`` node state needs no schema change (states are strings).
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("disconnect_grace", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("disconnect_grace")
