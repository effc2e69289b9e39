"""Fewer index entries per imported row: one unused index dropped, three made partial.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

An imported suppression writes an address, a suppression and a ledger event, and every
index of those tables takes an entry per row (docs/decisions/0021-bulk-imports.md):

- `ix_addresses_address_hash` is dropped: no query looks addresses up by hash (they are
  found by `value_digest`; suppressions and events have their own hash keys), and as a
  key of random hashes it cost a random page per row.
- `ix_addresses_contact_id`, `ix_consent_events_tenant_id_contact_id_id` and
  `ix_consent_events_unsubscribe_request_id` only index rows where the column is set.
  Every query through them asks for `column = value`, which implies `IS NOT NULL`, so
  SQLite and PostgreSQL use the partial index for it; imported rows have neither a
  contact nor an unsubscribe request and no longer add entries.

Downgrading restores the 0005 indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARTIAL: tuple[tuple[str, str, list[str], str], ...] = (
    ("ix_addresses_contact_id", "addresses", ["contact_id"], "contact_id"),
    (
        "ix_consent_events_tenant_id_contact_id_id",
        "consent_events",
        ["tenant_id", "contact_id", "id"],
        "contact_id",
    ),
    (
        "ix_consent_events_unsubscribe_request_id",
        "consent_events",
        ["unsubscribe_request_id"],
        "unsubscribe_request_id",
    ),
)


def upgrade() -> None:
    op.drop_index("ix_addresses_address_hash", table_name="addresses")
    for name, table, columns, column in _PARTIAL:
        op.drop_index(name, table_name=table)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, table, columns, _ in _PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
    op.create_index("ix_addresses_address_hash", "addresses", ["address_hash"])
