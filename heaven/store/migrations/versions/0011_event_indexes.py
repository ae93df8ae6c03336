"""the event log is read by organization and by job through indexes

Revision ID: 0011
Revises: 0010

The dashboard asks for one organization's newest event on every refresh and the API
lists one job's events; without these indexes both scan the whole log, which only grows.
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_org_seq", "events", ["org_id", "seq"])
    op.create_index("ix_events_job", "events", ["job"])


def downgrade() -> None:
    op.drop_index("ix_events_job", table_name="events")
    op.drop_index("ix_events_org_seq", table_name="events")
