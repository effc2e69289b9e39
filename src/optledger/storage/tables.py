"""The schema as SQLAlchemy Core tables (Core, not the ORM: the hot path stays thin).

Conventions:
- integer surrogate keys; the high-volume tables (ledger, messages, outbox) use BIGINT on
  PostgreSQL and SQLite's INTEGER rowid alias (which is 64-bit) on SQLite;
- timestamps are timezone-naive UTC `DateTime`s; repositories convert to and from the
  domain's aware UTC datetimes;
- enum-like columns are strings holding the values of the domain's StrEnums;
- lists are comma-separated text (topic channels, request topic ids); free-form mappings
  (event tags and context, outbox payloads) are JSON text;
- constraint and index names follow `NAMING_CONVENTION`, and the migrations spell the
  same names out, so the two can be compared for drift.

An address's value can be 4,096 characters, more than a PostgreSQL B-tree entry may hold
(about 2,700 bytes), so uniqueness and look-ups go through `value_digest`, a fixed-size
key kept in the same row and deleted with it: the address's keyed hash, the same as
`address_hash` (migration 0007, decision 0026; before it, the plain SHA-256 of the value).
Keyed by the hash, the unique key is in the order an import writes its rows.

Personal data lives in `addresses.value`, `contacts.external_id` and the provenance
columns of `consent_events`; erasure deletes or clears exactly those. `idempotency_keys`
keeps REST responses for 24 hours (they may echo an address), sealed so that only the
API key that made the request can read them; the service purges them when they expire.
`import_runs` holds no personal data: counts and a digest of the rows.
"""

from datetime import datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "NAMING_CONVENTION",
    "addresses",
    "api_keys",
    "confirmations",
    "consent_events",
    "contacts",
    "idempotency_keys",
    "import_runs",
    "messages",
    "metadata",
    "outbox",
    "subscriptions",
    "suppressions",
    "tenants",
    "topics",
    "unsubscribe_requests",
]

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_BigId = BigInteger().with_variant(Integer(), "sqlite")
"""BIGINT on PostgreSQL; on SQLite only `INTEGER PRIMARY KEY` is an autoincrementing
rowid alias, and it is 64-bit already."""

HASH = String(64)
"""A hex SHA-256 (keyed address hashes, API key and token hashes)."""
ENUM = String(32)
"""A StrEnum value (channel, state, action, scope…)."""


def _where_set(column: str, *, leading: str | None = None, trailing: str | None = None) -> Index:
    """An index on `column` (after `leading`, before `trailing`) of only the rows where it
    is set (migration 0006): every query through it asks for `column = value`, and the
    many rows without one (imported addresses and events) add no entries."""
    where = text(f"{column} IS NOT NULL")
    columns = [name for name in (leading, column, trailing) if name is not None]
    return Index(None, *columns, sqlite_where=where, postgresql_where=where)


def _tenant_id() -> Column[int]:
    return Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False)


def _created_at() -> Column[datetime]:
    return Column("created_at", DateTime(), nullable=False)


tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("default_region", String(8), nullable=False),
    Column("default_locale", String(35), nullable=False),
    Column("grace_period", Interval(), nullable=False),
    _created_at(),
    # Page settings (migration 0003); NULL means the default of `PageSettings`.
    Column("display_name", String(200), nullable=True),
    Column("accent_color", String(7), nullable=True),
    Column("logo", LargeBinary(), nullable=True),
    Column("logo_type", String(32), nullable=True),
    Column("undo_period", Interval(), nullable=True),
    Column("link_lifetime", Interval(), nullable=True),
    UniqueConstraint("name"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    _tenant_id(),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", HASH, nullable=False),
    Column("scope", ENUM, nullable=False),
    _created_at(),
    Column("revoked_at", DateTime(), nullable=True),
    UniqueConstraint("key_hash"),
    Index(None, "tenant_id"),
)

topics = Table(
    "topics",
    metadata,
    Column("id", Integer, primary_key=True),
    _tenant_id(),
    Column("key", String(200), nullable=False),
    Column("name", String(500), nullable=False),
    Column("category", ENUM, nullable=False),
    Column("consent_mode", ENUM, nullable=False),
    Column("double_opt_in", Boolean(), nullable=False),
    Column("channels", Text, nullable=False),
    Column("unsubscribable", Boolean(), nullable=False),
    _created_at(),
    UniqueConstraint("tenant_id", "key"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    _tenant_id(),
    Column("external_id", String(255), nullable=True),
    Column("locale", String(35), nullable=True),
    _created_at(),
    Column("erased_at", DateTime(), nullable=True),
    UniqueConstraint("tenant_id", "external_id"),
)

addresses = Table(
    "addresses",
    metadata,
    Column("id", Integer, primary_key=True),
    _tenant_id(),
    Column("channel", ENUM, nullable=False),
    Column("value", Text, nullable=False),
    Column("value_digest", HASH, nullable=False),
    Column("address_hash", HASH, nullable=False),
    Column(
        "contact_id",
        Integer,
        ForeignKey("contacts.id", ondelete="SET NULL"),
        nullable=True,
    ),
    _created_at(),
    UniqueConstraint("tenant_id", "channel", "value_digest"),
    _where_set("contact_id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "address_id",
        Integer,
        ForeignKey("addresses.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("topic_id", Integer, ForeignKey("topics.id"), nullable=False),
    Column("state", ENUM, nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    PrimaryKeyConstraint("address_id", "topic_id"),
)

suppressions = Table(
    "suppressions",
    metadata,
    _tenant_id(),
    Column("channel", ENUM, nullable=False),
    Column("address_hash", HASH, nullable=False),
    Column(
        "address_id",
        Integer,
        ForeignKey("addresses.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("reason", String(200), nullable=False),
    _created_at(),
    PrimaryKeyConstraint("tenant_id", "channel", "address_hash"),
    Index(None, "address_id"),
    # On SQLite a long list check reads a channel's every suppression through this one
    # (migration 0008): it holds what the read needs, in the order of the addresses it
    # joins. Not on PostgreSQL, which joins by hash without it, and whose planner took it
    # for an import's look-ups by hash while the table grew (a scan of the tenant's
    # suppressions per batch).
    Index(None, "tenant_id", "channel", "address_id", "address_hash").ddl_if(dialect="sqlite"),
)

unsubscribe_requests = Table(
    "unsubscribe_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    _tenant_id(),
    Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=True),
    Column(
        "address_id",
        Integer,
        ForeignKey("addresses.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("topic_ids", Text, nullable=False),
    Column("state", ENUM, nullable=False),
    _created_at(),
    Column("effective_at", DateTime(), nullable=False),
    Column("closed_at", DateTime(), nullable=True),
    Index(None, "state", "effective_at"),
    Index(None, "tenant_id", "contact_id"),
    Index(None, "address_id"),
)

consent_events = Table(
    "consent_events",
    metadata,
    Column("id", _BigId, primary_key=True),
    _tenant_id(),
    Column("occurred_at", DateTime(), nullable=False),
    Column("action", ENUM, nullable=False),
    Column("outcome", ENUM, nullable=False),
    Column("channel", ENUM, nullable=True),
    Column("address_hash", HASH, nullable=True),
    Column(
        "address_id",
        Integer,
        ForeignKey("addresses.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=True),
    Column("topic_id", Integer, ForeignKey("topics.id"), nullable=True),
    Column("state", ENUM, nullable=True),
    Column("via", String(64), nullable=False),
    Column("actor", Text, nullable=True),
    Column("device", Text, nullable=True),
    Column("entrypoint", Text, nullable=True),
    Column("tags", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("request_id", Text, nullable=True),
    Column("idempotency_key", Text, nullable=True),
    Column("locale", String(35), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", Text, nullable=True),
    Column(
        "unsubscribe_request_id",
        Integer,
        ForeignKey("unsubscribe_requests.id"),
        nullable=True,
    ),
    Column("message_uid", String(255), nullable=True),
    Column("campaign", String(255), nullable=True),
    Index(None, "tenant_id", "id"),
    _where_set("contact_id", leading="tenant_id", trailing="id"),
    Index(None, "tenant_id", "address_hash", "id"),
    _where_set("unsubscribe_request_id"),
    Index(None, "address_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", _BigId, primary_key=True),
    _tenant_id(),
    Column("message_uid", String(255), nullable=False),
    Column(
        "address_id",
        Integer,
        ForeignKey("addresses.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("topic_id", Integer, ForeignKey("topics.id"), nullable=False),
    Column("campaign", String(255), nullable=True),
    _created_at(),
    UniqueConstraint("tenant_id", "message_uid"),
    Index(None, "address_id"),
)

confirmations = Table(
    "confirmations",
    metadata,
    Column("token_hash", HASH, nullable=False),
    _tenant_id(),
    Column(
        "address_id",
        Integer,
        ForeignKey("addresses.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("topic_id", Integer, ForeignKey("topics.id"), nullable=False),
    _created_at(),
    Column("expires_at", DateTime(), nullable=False),
    Column("confirmed_at", DateTime(), nullable=True),
    PrimaryKeyConstraint("token_hash"),
    Index(None, "address_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", _BigId, primary_key=True),
    _tenant_id(),
    Column("kind", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    _created_at(),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("run_at", DateTime(), nullable=False),
    Column("done_at", DateTime(), nullable=True),
    Index(None, "done_at", "run_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _tenant_id(),
    Column("api_key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("sealed", LargeBinary(), nullable=False),
    _created_at(),
    PrimaryKeyConstraint("tenant_id", "api_key_id", "key"),
    Index(None, "created_at"),
)
"""The first response to each `Idempotency-Key` of an API key, sealed under that key and
kept 24 hours (see `optledger.services.idempotency`)."""

import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    _tenant_id(),
    Column("digest", HASH, nullable=False),
    Column("pending_digest", HASH, nullable=True),
    Column("rows", Integer, nullable=False),
    Column("applied", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("repeated", Integer, nullable=False),
    _created_at(),
    Column("updated_at", DateTime(), nullable=False),
    Column("finished_at", DateTime(), nullable=True),
    UniqueConstraint("tenant_id", "pending_digest"),
)
"""One row per attempt at applying an import file (see `ports.ImportRun`). `pending_digest`
is the digest while the run is unfinished and NULL once it is finished: its unique key lets
at most one unfinished run of a file exist per tenant (NULLs never clash), on SQLite and
PostgreSQL alike, without a partial index."""
