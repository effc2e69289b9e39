"""Addresses are found by their keyed hash: `value_digest` takes the value of `address_hash`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

`value_digest`, the key of `uq_addresses_tenant_id_channel_value_digest` and of every
look-up of an address, was the plain SHA-256 of the value. An import writes its rows in
address-hash order, so that the hash-keyed indexes take each batch's entries on few pages;
the SHA-256 of the value is unrelated to that order, so each batch put about one entry on
a page of its own in this one index, and every commit wrote that page out (about 4 KB per
imported row, once to the WAL and once more at the checkpoint; decision 0026). From this
revision on `value_digest` holds the address hash, which is as unique (a keyed hash of
the tenant, the channel and the value) and as long; callers pass it with the value.

Existing rows are rewritten in place; the unique key stays, so nothing else changes.
SHA-256 and the keyed hash never give the same 64 hex digits for two values, so no row
clashes with another while the rows change over. Downgrading computes the plain SHA-256
of each value again.
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 10_000


def upgrade() -> None:
    op.execute("UPDATE addresses SET value_digest = address_hash")


def downgrade() -> None:
    connection = op.get_bind()
    update = sa.text("UPDATE addresses SET value_digest = :digest WHERE id = :id")
    rows = connection.execute(sa.text("SELECT id, value FROM addresses ORDER BY id")).all()
    for start in range(0, len(rows), _BATCH):
        connection.execute(
            update,
            [
                {"id": row.id, "digest": hashlib.sha256(row.value.encode()).hexdigest()}
                for row in rows[start : start + _BATCH]
            ],
        )
