"""clusters belong to organizations; deployments (services) held, restarted with back-off

Revision ID: 0008
Revises: 0007

A cluster's name becomes unique within its organization only (two organizations may
both have a "gpu" cluster), and the cluster records who made it and when. A join
token may name the cluster its nodes join. A node keeps the key the controller
presents when it calls its agent (logs). Jobs gain what services need: a container
image, ``held`` (created but not started yet), ``not_before`` (the end of a crash
back-off) and the count of restarts.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COPIED = "id, org_id, name, quota_cores, quota_memory_mb, quota_gpus"


def _clusters_table(name: str, *extra) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("quota_cores", sa.Integer),
        sa.Column("quota_memory_mb", sa.Integer),
        sa.Column("quota_gpus", sa.Integer),
        *extra,
    )


def upgrade() -> None:
    # The old table's unique name has no constraint name to drop on every dialect: the table is
    # rebuilt instead, keeping its rows and ids.
    _clusters_table(
        "clusters_new",
        sa.Column("creator_id", sa.Integer, sa.ForeignKey("people.id")),
        sa.Column("created_at", sa.Float),
        sa.UniqueConstraint("org_id", "name", name="uq_clusters_org_name"),
    )
    op.execute(f"INSERT INTO clusters_new ({_COPIED}) SELECT {_COPIED} FROM clusters")
    op.drop_table("clusters")
    op.rename_table("clusters_new", "clusters")
    _continue_ids()
    op.add_column("join_tokens", sa.Column("cluster", sa.String(100), nullable=True))
    op.add_column("nodes", sa.Column("agent_key", sa.String(100), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("docker_image", sa.String(300), nullable=True))
        batch.add_column(sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("not_before", sa.Float, nullable=True))
        batch.add_column(sa.Column("restarts", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for column in ("restarts", "not_before", "held", "docker_image"):
            batch.drop_column(column)
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("agent_key")
    with op.batch_alter_table("join_tokens") as batch:
        batch.drop_column("cluster")
    _clusters_table("clusters_old", sa.UniqueConstraint("name"))
    op.execute(f"INSERT INTO clusters_old ({_COPIED}) SELECT {_COPIED} FROM clusters")
    op.drop_table("clusters")
    op.rename_table("clusters_old", "clusters")
    _continue_ids()


def _continue_ids() -> None:
    """PostgreSQL's id sequence of the rebuilt table starts at 1: move it past the copied ids."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('clusters', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                   "FROM clusters")
