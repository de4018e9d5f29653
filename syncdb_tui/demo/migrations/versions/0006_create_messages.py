"""create messages

Revision ID: 0006
Revises: 0005
Create Date: 2025-02-10 09:30:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibotkit_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["aibotkit_conversations.id"],
            name="aibotkit_messages_conversation_id_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="aibotkit_messages_pkey"),
    )
    op.create_index("idx_messages_conversation_id", "aibotkit_messages", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("idx_messages_conversation_id", table_name="aibotkit_messages")
    op.drop_table("aibotkit_messages")
