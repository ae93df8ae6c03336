"""jobs get an owner: the person who submitted them

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, and filled with nothing: jobs written before this revision keep their
    # (default) organization and have no owner, as do jobs of the original protocol.
    # A plain ADD COLUMN, so SQLite does not rebuild the table under its foreign keys.
    if op.get_bind().dialect.name == "sqlite":
        # Alembic will not add a column with a constraint on SQLite, which itself allows a
        # REFERENCES clause on a nullable ADD COLUMN.
        op.execute("ALTER TABLE jobs ADD COLUMN owner_id INTEGER REFERENCES people (id)")
    else:
        op.add_column("jobs", sa.Column("owner_id", sa.Integer, sa.ForeignKey("people.id"), nullable=True))
    op.create_index("ix_jobs_org_id", "jobs", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_org_id", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("owner_id")
