"""cases: the channel a case came in by, and the outside system's order number

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("channel", sa.String(length=20), server_default="station", nullable=False))
    op.add_column("cases", sa.Column("external_id", sa.String(length=100), nullable=True))
    op.create_index("uq_cases_channel_external_id", "cases", ["channel", "external_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_cases_channel_external_id", table_name="cases")
    op.drop_column("cases", "external_id")
    op.drop_column("cases", "channel")
