"""initial schema: organizations, nodes, jobs, core claims, events

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("cluster", sa.String(100), nullable=False),
        sa.Column("endpoint", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("core_offset", sa.Integer, nullable=False),
        sa.Column("local_cores", sa.JSON, nullable=False),
        sa.Column("reserved", sa.JSON, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("storage_mb", sa.Integer, nullable=False),
        sa.Column("gpus", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("last_heartbeat", sa.Float, nullable=False),
        sa.Column("telemetry", sa.JSON, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("command", sa.JSON, nullable=False),
        sa.Column("cores", sa.Integer, nullable=False),
        sa.Column("min_cores", sa.Integer, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("storage_mb", sa.Integer, nullable=False),
        sa.Column("gpus", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("node_pin", sa.String(100)),
        sa.Column("cluster", sa.String(100)),
        sa.Column("walltime", sa.Float),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("node", sa.String(100)),
        sa.Column("gpu_ids", sa.JSON, nullable=False),
        sa.Column("pid", sa.Integer),
        sa.Column("pids", sa.JSON, nullable=False),
        sa.Column("cpu_percent", sa.Float),
        sa.Column("rss_mb", sa.Float),
        sa.Column("exit_code", sa.Integer),
        sa.Column("submitted_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("runs", sa.Integer, nullable=False),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ix_jobs_node_name", "jobs", ["node_pin", "name"])
    op.create_table(
        "core_claims",
        sa.Column("core", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("node", sa.String(100), nullable=False),
    )
    op.create_index("ix_core_claims_job_id", "core_claims", ["job_id"])
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("job", sa.Integer),
        sa.Column("node", sa.String(100)),
        sa.Column("org_id", sa.Integer),
    )


def downgrade() -> None:
    for table in ("events", "core_claims", "jobs", "nodes", "organizations"):
        op.drop_table(table)
