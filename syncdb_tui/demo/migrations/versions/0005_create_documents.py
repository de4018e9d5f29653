"""create documents

Revision ID: 0005
Revises: 0004
Create Date: 2025-02-03 11:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibotkit_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chatbot_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("pinecone_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["chatbot_id"], ["aibotkit_chatbots.id"], name="aibotkit_documents_chatbot_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="aibotkit_documents_pkey"),
    )
    op.create_index("idx_documents_chatbot_id", "aibotkit_documents", ["chatbot_id"])


def downgrade() -> None:
    op.drop_index("idx_documents_chatbot_id", table_name="aibotkit_documents")
    op.drop_table("aibotkit_documents")
