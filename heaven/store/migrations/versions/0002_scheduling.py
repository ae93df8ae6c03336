"""scheduling: dependencies, usage window, resize time, clusters with quotas, lent cores

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("depends_on", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("usage", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("resized_at", sa.Float))
    with op.batch_alter_table("core_claims") as batch:
        batch.add_column(sa.Column("lent_by", sa.Integer))
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("quota_cores", sa.Integer),
        sa.Column("quota_memory_mb", sa.Integer),
        sa.Column("quota_gpus", sa.Integer),
    )


def downgrade() -> None:
    op.drop_table("clusters")
    with op.batch_alter_table("core_claims") as batch:
        batch.drop_column("lent_by")
    with op.batch_alter_table("jobs") as batch:
        for column in ("resized_at", "usage", "depends_on"):
            batch.drop_column(column)
