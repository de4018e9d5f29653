"""create conversations

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-20 16:45:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibotkit_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chatbot_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("guest_ip", postgresql.INET(), nullable=True),
        sa.ForeignKeyConstraint(
            ["chatbot_id"], ["aibotkit_chatbots.id"], name="aibotkit_conversations_chatbot_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="aibotkit_conversations_pkey"),
    )
    op.create_index("idx_conversations_chatbot_id", "aibotkit_conversations", ["chatbot_id"])
    op.create_index("idx_conversations_session_id", "aibotkit_conversations", ["session_id"])


def downgrade() -> None:
    op.drop_index("idx_conversations_session_id", table_name="aibotkit_conversations")
    op.drop_index("idx_conversations_chatbot_id", table_name="aibotkit_conversations")
    op.drop_table("aibotkit_conversations")
