"""The initial schema.

Revision ID: 0001
Revises:
Create Date: 2025-11-23

Tables are declared inline, with every constraint and index named as
`optledger.storage.tables.NAMING_CONVENTION` names it: a migration never imports the
current table definitions, which move on while this revision must stay as it was.
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HASH = sa.String(64)
ENUM = sa.String(32)


def _tenant_id(table: str) -> sa.Column[int]:
    return sa.Column(
        "tenant_id",
        sa.Integer(),
        sa.ForeignKey("tenants.id", name=f"fk_{table}_tenant_id_tenants"),
        nullable=False,
    )


def _created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("default_region", sa.String(8), nullable=False),
        sa.Column("default_locale", sa.String(35), nullable=False),
        sa.Column("grace_period", sa.Interval(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        _tenant_id("api_keys"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", HASH, nullable=False),
        sa.Column("scope", ENUM, nullable=False),
        _created_at(),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "topics",
        sa.Column("id", sa.Integer(), nullable=False),
        _tenant_id("topics"),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("category", ENUM, nullable=False),
        sa.Column("consent_mode", ENUM, nullable=False),
        sa.Column("double_opt_in", sa.Boolean(), nullable=False),
        sa.Column("channels", sa.Text(), nullable=False),
        sa.Column("unsubscribable", sa.Boolean(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_topics"),
        sa.UniqueConstraint("tenant_id", "key", name="uq_topics_tenant_id_key"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        _tenant_id("contacts"),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("locale", sa.String(35), nullable=True),
        _created_at(),
        sa.Column("erased_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("tenant_id", "external_id", name="uq_contacts_tenant_id_external_id"),
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        _tenant_id("addresses"),
        sa.Column("channel", ENUM, nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_digest", HASH, nullable=False),
        sa.Column("address_hash", HASH, nullable=False),
        sa.Column(
            "contact_id",
            sa.Integer(),
            sa.ForeignKey(
                "contacts.id", name="fk_addresses_contact_id_contacts", ondelete="SET NULL"
            ),
            nullable=True,
        ),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_addresses"),
        sa.UniqueConstraint(
            "tenant_id",
            "channel",
            "value_digest",
            name="uq_addresses_tenant_id_channel_value_digest",
        ),
    )
    op.create_index("ix_addresses_address_hash", "addresses", ["address_hash"])
    op.create_index("ix_addresses_contact_id", "addresses", ["contact_id"])
    op.create_table(
        "subscriptions",
        sa.Column(
            "address_id",
            sa.Integer(),
            sa.ForeignKey(
                "addresses.id", name="fk_subscriptions_address_id_addresses", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column(
            "topic_id",
            sa.Integer(),
            sa.ForeignKey("topics.id", name="fk_subscriptions_topic_id_topics"),
            nullable=False,
        ),
        sa.Column("state", ENUM, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address_id", "topic_id", name="pk_subscriptions"),
    )
    op.create_table(
        "suppressions",
        _tenant_id("suppressions"),
        sa.Column("channel", ENUM, nullable=False),
        sa.Column("address_hash", HASH, nullable=False),
        sa.Column(
            "address_id",
            sa.Integer(),
            sa.ForeignKey(
                "addresses.id", name="fk_suppressions_address_id_addresses", ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column("reason", sa.String(200), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("tenant_id", "channel", "address_hash", name="pk_suppressions"),
    )
    op.create_index("ix_suppressions_address_id", "suppressions", ["address_id"])
    op.create_table(
        "unsubscribe_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        _tenant_id("unsubscribe_requests"),
        sa.Column(
            "contact_id",
            sa.Integer(),
            sa.ForeignKey("contacts.id", name="fk_unsubscribe_requests_contact_id_contacts"),
            nullable=True,
        ),
        sa.Column(
            "address_id",
            sa.Integer(),
            sa.ForeignKey(
                "addresses.id",
                name="fk_unsubscribe_requests_address_id_addresses",
                ondelete="SET NULL",
            ),
            nullable=True,
        ),
        sa.Column("topic_ids", sa.Text(), nullable=False),
        sa.Column("state", ENUM, nullable=False),
        _created_at(),
        sa.Column("effective_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_unsubscribe_requests"),
    )
    op.create_index(
        "ix_unsubscribe_requests_state_effective_at",
        "unsubscribe_requests",
        ["state", "effective_at"],
    )
    op.create_index(
        "ix_unsubscribe_requests_tenant_id_contact_id",
        "unsubscribe_requests",
        ["tenant_id", "contact_id"],
    )
    op.create_index("ix_unsubscribe_requests_address_id", "unsubscribe_requests", ["address_id"])
    op.create_table(
        "consent_events",
        sa.Column("id", BIG_ID, nullable=False),
        _tenant_id("consent_events"),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("action", ENUM, nullable=False),
        sa.Column("outcome", ENUM, nullable=False),
        sa.Column("channel", ENUM, nullable=True),
        sa.Column("address_hash", HASH, nullable=True),
        sa.Column(
            "address_id",
            sa.Integer(),
            sa.ForeignKey(
                "addresses.id", name="fk_consent_events_address_id_addresses", ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column(
            "contact_id",
            sa.Integer(),
            sa.ForeignKey("contacts.id", name="fk_consent_events_contact_id_contacts"),
            nullable=True,
        ),
        sa.Column(
            "topic_id",
            sa.Integer(),
            sa.ForeignKey("topics.id", name="fk_consent_events_topic_id_topics"),
            nullable=True,
        ),
        sa.Column("state", ENUM, nullable=True),
        sa.Column("via", sa.String(64), nullable=False),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("entrypoint", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column(
            "unsubscribe_request_id",
            sa.Integer(),
            sa.ForeignKey(
                "unsubscribe_requests.id",
                name="fk_consent_events_unsubscribe_request_id_unsubscribe_requests",
            ),
            nullable=True,
        ),
        sa.Column("message_uid", sa.String(255), nullable=True),
        sa.Column("campaign", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_consent_events"),
    )
    op.create_index("ix_consent_events_tenant_id_id", "consent_events", ["tenant_id", "id"])
    op.create_index(
        "ix_consent_events_tenant_id_contact_id_id",
        "consent_events",
        ["tenant_id", "contact_id", "id"],
    )
    op.create_index(
        "ix_consent_events_tenant_id_address_hash_id",
        "consent_events",
        ["tenant_id", "address_hash", "id"],
    )
    op.create_index(
        "ix_consent_events_unsubscribe_request_id", "consent_events", ["unsubscribe_request_id"]
    )
    op.create_index("ix_consent_events_address_id", "consent_events", ["address_id"])
    op.create_table(
        "messages",
        sa.Column("id", BIG_ID, nullable=False),
        _tenant_id("messages"),
        sa.Column("message_uid", sa.String(255), nullable=False),
        sa.Column(
            "address_id",
            sa.Integer(),
            sa.ForeignKey(
                "addresses.id", name="fk_messages_address_id_addresses", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column(
            "topic_id",
            sa.Integer(),
            sa.ForeignKey("topics.id", name="fk_messages_topic_id_topics"),
            nullable=False,
        ),
        sa.Column("campaign", sa.String(255), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("tenant_id", "message_uid", name="uq_messages_tenant_id_message_uid"),
    )
    op.create_index("ix_messages_address_id", "messages", ["address_id"])
    op.create_table(
        "confirmations",
        sa.Column("token_hash", HASH, nullable=False),
        _tenant_id("confirmations"),
        sa.Column(
            "address_id",
            sa.Integer(),
            sa.ForeignKey(
                "addresses.id", name="fk_confirmations_address_id_addresses", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column(
            "topic_id",
            sa.Integer(),
            sa.ForeignKey("topics.id", name="fk_confirmations_topic_id_topics"),
            nullable=False,
        ),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_confirmations"),
    )
    op.create_index("ix_confirmations_address_id", "confirmations", ["address_id"])
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, nullable=False),
        _tenant_id("outbox"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _created_at(),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("run_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_done_at_run_at", "outbox", ["done_at", "run_at"])


def downgrade() -> None:
    for table in (
        "outbox",
        "confirmations",
        "messages",
        "consent_events",
        "unsubscribe_requests",
        "suppressions",
        "subscriptions",
        "addresses",
        "contacts",
        "topics",
        "api_keys",
        "tenants",
    ):
        op.drop_table(table)
