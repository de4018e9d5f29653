"""add analytics table

Revision ID: 0007
Revises: 0006
Create Date: 2025-03-03 15:20:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibotkit_analytics",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("chatbot_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("unique_users", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["chatbot_id"], ["aibotkit_chatbots.id"], name="aibotkit_analytics_chatbot_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="aibotkit_analytics_pkey"),
    )
    op.create_index("idx_analytics_chatbot_id", "aibotkit_analytics", ["chatbot_id"])
    op.create_index("idx_analytics_date", "aibotkit_analytics", ["date"])


def downgrade() -> None:
    op.drop_index("idx_analytics_date", table_name="aibotkit_analytics")
    op.drop_index("idx_analytics_chatbot_id", table_name="aibotkit_analytics")
    op.drop_table("aibotkit_analytics")
