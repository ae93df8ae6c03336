"""a job may carry its own memory retry steps (heaven submit --retry-memory 2x,4x)

Revision ID: 0022
Revises: 0014

None: the controller's HEAVEN_RETRY_MEMORY applies (every job before this revision);
an empty string: the job is never retried with more memory.
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("retry_memory", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("retry_memory")
