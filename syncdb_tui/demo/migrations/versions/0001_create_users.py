"""create users

Revision ID: 0001
Revises:
Create Date: 2025-01-06 09:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibotkit_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="aibotkit_users_pkey"),
        sa.UniqueConstraint("email", name="aibotkit_users_email_key"),
    )


def downgrade() -> None:
    op.drop_table("aibotkit_users")
