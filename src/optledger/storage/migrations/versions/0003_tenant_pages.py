"""Tenant page settings: how the hosted pages look, and how long links and undo work.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Every column is nullable: NULL means "the default" (the tenant's name, no accent colour,
no logo, the default undo period and link lifetime in `optledger.domain.model`), so
existing tenants need no back-fill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("display_name", sa.String(200)),
    ("accent_color", sa.String(7)),
    ("logo", sa.LargeBinary()),
    ("logo_type", sa.String(32)),
    ("undo_period", sa.Interval()),
    ("link_lifetime", sa.Interval()),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("tenants", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _type in reversed(_COLUMNS):
        op.drop_column("tenants", name)
