"""people, memberships, API tokens and revoked access tokens; organizations get an
invite code and a creation time

Revision ID: 0005
Revises: 0004
"""
import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Organizations written before this revision (the "default" one) get a code and a
    # time now. The columns are added NOT NULL with a placeholder default and filled in
    # place: on SQLite anything else rebuilds the table, which its foreign keys (jobs,
    # nodes, clusters) refuse inside a transaction.
    op.add_column("organizations", sa.Column("invite_code", sa.String(64), nullable=False, server_default=""))
    op.add_column("organizations", sa.Column("created_at", sa.Float, nullable=False, server_default="0"))
    conn = op.get_bind()
    orgs = sa.table("organizations", sa.column("id", sa.Integer), sa.column("invite_code", sa.String),
                    sa.column("created_at", sa.Float))
    for (org_id,) in conn.execute(sa.select(orgs.c.id)).all():
        # The same generator as heaven.store.organizations.new_invite_code, inlined because
        # a migration must not change when the application code does.
        conn.execute(orgs.update().where(orgs.c.id == org_id)
                     .values(invite_code=secrets.token_urlsafe(16), created_at=time.time()))
    if conn.dialect.name != "sqlite":  # SQLite cannot drop a default without a rebuild; the code always sets both
        op.alter_column("organizations", "invite_code", server_default=None)
        op.alter_column("organizations", "created_at", server_default=None)
    op.create_index("ix_organizations_invite_code", "organizations", ["invite_code"], unique=True)

    op.create_table(
        "people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "memberships",
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organizations.id"), primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("joined_at", sa.Float, nullable=False),
    )
    op.create_index("ix_memberships_person_id", "memberships", ["person_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float),
    )
    op.create_index("ix_api_tokens_person_id", "api_tokens", ["person_id"])
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])


def downgrade() -> None:
    for table in ("revoked_tokens", "api_tokens", "memberships", "people"):
        op.drop_table(table)
    op.drop_index("ix_organizations_invite_code", "organizations")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("created_at")
        batch.drop_column("invite_code")
