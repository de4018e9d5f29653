"""add chatbot analytics flag

Revision ID: 0008
Revises: 0007
Create Date: 2025-03-10 10:05:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "aibotkit_chatbots",
        sa.Column("analytics_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("aibotkit_chatbots", "analytics_enabled")
