"""Idempotency keys bound to the API key that used them, their responses sealed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

`idempotency_keys` was keyed by (tenant, key) and held each response in clear; it is now
keyed by (tenant, API key, key) and holds each response sealed under that API key (see
docs/decisions/0010-idempotency-bound-to-the-key.md). A sealed response cannot be made
from a clear one without the API key's secret, which the server never had, so the table
is dropped and created anew: the rows it held are lost. They are a 24-hour cache of
responses, not data: a client retrying a request within those 24 hours has it run again,
which for consent changes records a `repeated` event and changes nothing.

Downgrading recreates the 0002 table, empty, for the same reason.

The table is declared inline, its constraints and index named as
`optledger.storage.tables.NAMING_CONVENTION` names them (see 0001).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "idempotency_keys"
_INDEX = "ix_idempotency_keys_created_at"


def upgrade() -> None:
    op.drop_index(_INDEX, table_name=_TABLE)
    op.drop_table(_TABLE)
    op.create_table(
        _TABLE,
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", name="fk_idempotency_keys_tenant_id_tenants"),
            nullable=False,
        ),
        sa.Column(
            "api_key_id",
            sa.Integer(),
            sa.ForeignKey("api_keys.id", name="fk_idempotency_keys_api_key_id_api_keys"),
            nullable=False,
        ),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "api_key_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index(_INDEX, _TABLE, ["created_at"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name=_TABLE)
    op.drop_table(_TABLE)
    op.create_table(
        _TABLE,
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", name="fk_idempotency_keys_tenant_id_tenants"),
            nullable=False,
        ),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index(_INDEX, _TABLE, ["created_at"])
