"""create chatbots

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-13 10:15:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibotkit_chatbots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("style", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("welcome_messages", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["aibotkit_users.id"], name="aibotkit_chatbots_user_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="aibotkit_chatbots_pkey"),
    )
    op.create_index("idx_chatbots_user_id", "aibotkit_chatbots", ["user_id"])


def downgrade() -> None:
    op.drop_index("idx_chatbots_user_id", table_name="aibotkit_chatbots")
    op.drop_table("aibotkit_chatbots")
