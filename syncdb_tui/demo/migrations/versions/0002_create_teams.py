"""create teams and team members

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-08 14:30:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aibotkit_teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("stripe_customer_id", sa.Text(), nullable=True),
        sa.Column("stripe_subscription_id", sa.Text(), nullable=True),
        sa.Column("plan_name", sa.String(length=50), nullable=True),
        sa.Column("subscription_status", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name="aibotkit_teams_pkey"),
    )
    op.create_table(
        "aibotkit_team_members",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["aibotkit_users.id"], name="aibotkit_team_members_user_id_fkey", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["aibotkit_teams.id"], name="aibotkit_team_members_team_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "team_id", name="aibotkit_team_members_pkey"),
    )
    op.create_index("idx_team_members_team_id", "aibotkit_team_members", ["team_id"])


def downgrade() -> None:
    op.drop_index("idx_team_members_team_id", table_name="aibotkit_team_members")
    op.drop_table("aibotkit_team_members")
    op.drop_table("aibotkit_teams")
