"""The repository ports over one SQLAlchemy `Connection`, in Core statements.

Every repository works inside the transaction its connection is in and never commits;
`SqlTransactions` owns the transaction. Rows map onto the domain's frozen dataclasses by
the explicit `_…_from_row` functions; datetimes are aware UTC in the domain and naive UTC
in the database (a naive datetime handed to a repository is a ValueError).

Uniqueness clashes in `add` (a second tenant with one name, a second contact with one
external id, a duplicate message uid…) raise the domain's `Conflict`. They are detected
with `INSERT … ON CONFLICT DO NOTHING RETURNING`, not by catching a database error, so
the transaction stays usable and a service may catch the `Conflict` and carry on.

The statements of the hot write path (the look-ups and inserts an opt-out makes: an
address, a tenant, a topic by key, a subscription, a suppression, an event, an outbox
item, and every `_insert_new`; a one-click's address, topic and message by id) run
through the unit of work's `CursorExecutor` on the DBAPI cursor; the rest through
`Connection.execute`. Both see the same transaction and the same values (see `cursor`).

Look-ups by many keys (`states`, `suppressed`, and the erasure helpers) send IN lists of
at most `IN_CHUNK` values per statement, within SQLite's variable limit. An import
batch's look-ups (`find_many`, `reasons`) send all their keys in one parameter instead:
a JSON array on SQLite, an array probed key by key on PostgreSQL (`_probing`).
"""

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from typing import Any, Final, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Delete,
    Executable,
    Integer,
    Row,
    Select,
    String,
    Table,
    Text,
    Update,
    and_,
    any_,
    bindparam,
    case,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from optledger.domain import ports
from optledger.domain.channels import Channel
from optledger.domain.errors import Conflict
from optledger.domain.model import (
    DEFAULT_LINK_LIFETIME,
    DEFAULT_UNDO_PERIOD,
    Action,
    Address,
    ApiKey,
    Category,
    Confirmation,
    ConsentEvent,
    ConsentMode,
    Contact,
    Message,
    OutboxItem,
    Outcome,
    PageSettings,
    Provenance,
    RequestState,
    Scope,
    Subscription,
    SubscriptionState,
    Suppression,
    Tenant,
    Topic,
    UnsubscribeRequest,
)
from optledger.storage.cursor import CursorExecutor, Record
from optledger.storage.tables import (
    addresses,
    api_keys,
    confirmations,
    consent_events,
    contacts,
    idempotency_keys,
    import_runs,
    messages,
    outbox,
    subscriptions,
    suppressions,
    tenants,
    topics,
    unsubscribe_requests,
)

__all__ = [
    "IN_CHUNK",
    "PROBE_CHUNK",
    "SqlAddressRepository",
    "SqlApiKeyRepository",
    "SqlConfirmationRepository",
    "SqlContactRepository",
    "SqlEventRepository",
    "SqlIdempotencyRepository",
    "SqlImportRunRepository",
    "SqlMessageRepository",
    "SqlOutboxRepository",
    "SqlRequestRepository",
    "SqlSubscriptionRepository",
    "SqlSuppressionRepository",
    "SqlTenantRepository",
    "SqlTopicRepository",
    "SqlUnitOfWork",
]

IN_CHUNK: Final = 500
"""Most values in one IN list (SQLite allows 32,766 variables; this leaves headroom)."""
PROBE_CHUNK: Final = 10_000
"""Most keys in one PostgreSQL probe (`_probing`): one array parameter, so no variable
limit; an import's batch of thousands is one round trip instead of one per `IN_CHUNK`."""

_T = TypeVar("_T")
_K = TypeVar("_K")
_V = TypeVar("_V")
_Row = Row[*tuple[Any, ...]]


# --- conversions -------------------------------------------------------------------------


def _to_db(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:  # the common case, without the conversion
        return moment.replace(tzinfo=None)
    if moment.tzinfo is None:
        raise ValueError("datetimes passed to storage must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _to_db_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _to_db(moment)


def _from_db(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def _from_db_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _from_db(moment)


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""What `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` builds on every
call, built once: the writer encodes a few values for every event it records."""


def _json(value: object) -> str:
    return _ENCODER.encode(value)


def _channels_text(channels: Iterable[Channel]) -> str:
    return ",".join(sorted(channel.value for channel in channels))


def _channels_from_text(text: str) -> frozenset[Channel]:
    return frozenset(Channel(part) for part in text.split(",") if part)


def _ids_text(ids: Iterable[int]) -> str:
    return ",".join(str(value) for value in ids)


def _ids_from_text(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def _chunks(values: Iterable[_T], *, size: int = IN_CHUNK) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _collect(
    rows_of: Callable[[list[_K]], Iterable[_Row]],
    keys: Collection[_K],
    entry: Callable[[_Row], _V],
    *,
    size: int = IN_CHUNK,
) -> list[_V]:
    """`entry` of every row that `rows_of` returns for each chunk of `size` of `keys`, in
    order."""
    chunks = _chunks(dict.fromkeys(keys), size=size)
    return [entry(row) for chunk in chunks for row in rows_of(chunk)]


# --- statements --------------------------------------------------------------------------
# The frequent statements are built once, with bound parameters, and reused. SQLAlchemy
# memoises a statement's cache key on the statement object, so reuse skips both building
# the statement and walking it for its cache key, which together cost more than running
# the statement on SQLite. (`functools.cache` may build one twice under a race; harmless.)


@cache
def _select(
    table: Table, where: tuple[str, ...], order_by: tuple[str, ...] = ()
) -> Select[*tuple[Any, ...]]:
    """`SELECT * FROM table WHERE c = :c AND …` for the columns `where`."""
    return (
        select(table)
        .where(*(table.c[name] == bindparam(name) for name in where))
        .order_by(*(table.c[name] for name in order_by))
    )


@cache
def _select_in(
    table: Table, column: str, where: tuple[str, ...] = (), order_by: tuple[str, ...] = ()
) -> Select[*tuple[Any, ...]]:
    """`_select`, also requiring `column IN :values` (an expanding parameter)."""
    return _select(table, where, order_by).where(
        table.c[column].in_(bindparam("values", expanding=True))
    )


@cache
def _update(table: Table, where: tuple[str, ...]) -> Update:
    """`UPDATE table SET … WHERE c = :where_c AND …`; the SET columns are the other keys
    of the parameters it runs with."""
    return update(table).where(*(table.c[name] == bindparam(f"where_{name}") for name in where))


@cache
def _update_in(table: Table, column: str) -> Update:
    """`UPDATE table SET … WHERE column IN :where_values`."""
    return update(table).where(table.c[column].in_(bindparam("where_values", expanding=True)))


@cache
def _delete(table: Table, where: tuple[str, ...]) -> Delete:
    return delete(table).where(*(table.c[name] == bindparam(name) for name in where))


@cache
def _delete_in(table: Table, column: str) -> Delete:
    return delete(table).where(table.c[column].in_(bindparam("values", expanding=True)))


@cache
def _insert(table: Table) -> Executable:
    return insert(table)


@cache
def _insert_returning_id(table: Table) -> Executable:
    return insert(table).returning(table.c.id)


@cache
def _insert_new_statement(dialect: str, table: Table) -> Executable:
    return (
        _dialect_insert(dialect)(table)
        .on_conflict_do_nothing()
        .returning(*table.primary_key.columns)
    )


@cache
def _upsert_subscription(dialect: str) -> Executable:
    statement = _dialect_insert(dialect)(subscriptions)
    return statement.on_conflict_do_update(
        index_elements=[subscriptions.c.address_id, subscriptions.c.topic_id],
        set_={"state": statement.excluded.state, "updated_at": statement.excluded.updated_at},
    )


@cache
def _upsert_idempotency(dialect: str) -> Executable:
    """Insert a record, or replace the one of (tenant, API key, key) only if it is older than
    `:replace_before`; RETURNING a row only when this record was written."""
    statement = _dialect_insert(dialect)(idempotency_keys)
    columns = idempotency_keys.c
    return statement.on_conflict_do_update(
        index_elements=[columns.tenant_id, columns.api_key_id, columns.key],
        set_={name: statement.excluded[name] for name in ("sealed", "created_at")},
        where=columns.created_at < bindparam("replace_before", type_=columns.created_at.type),
    ).returning(columns.tenant_id)


@cache
def _reasons_statement() -> Select[*tuple[Any, ...]]:
    """SQLite: (hash, reason) of the suppressions of (`:tenant_id`, `:channel`) whose hash
    is in the JSON array `:keys` (one statement for any number of keys, on the cursor)."""
    return select(suppressions.c.address_hash, suppressions.c.reason).where(
        suppressions.c.tenant_id == bindparam("tenant_id"),
        suppressions.c.channel == bindparam("channel"),
        _among("sqlite", suppressions.c.address_hash),
    )


@cache
def _keyed_by_json(table: Table, column: str) -> Select[*tuple[Any, ...]]:
    """SQLite: the rows of `table` of (`:tenant_id`, `:channel`) whose `column` is in the
    JSON array `:keys`; each key is looked up in the unique index, as an IN list is."""
    return select(table).where(
        table.c.tenant_id == bindparam("tenant_id"),
        table.c.channel == bindparam("channel"),
        _among("sqlite", table.c[column]),
    )


@cache
def _probing(table: Table, column: str) -> Select[*tuple[Any, ...]]:
    """PostgreSQL: the rows of `table` of (`:tenant_id`, `:channel`) whose `column` is in
    `:values`, looked up one key at a time (a LATERAL join over the unnested values).

    Why not `column IN (…)`: a table an import has just filled from empty has no
    statistics yet, so the planner takes it for a few rows and scans every row of the
    tenant and channel for the IN list, per batch: the import grew quadratic (about 100
    rows/s after 55,000 rows). Probing the unique key once per value does not depend on
    statistics (the LIMIT 1 keeps the planner from turning the probes back into a join).
    """
    keys = (
        func.unnest(bindparam("values", type_=postgresql.ARRAY(Text())))
        .table_valued("key")
        .render_derived(name="keys")
    )
    found = (
        select(table)
        .where(
            table.c.tenant_id == bindparam("tenant_id"),
            table.c.channel == bindparam("channel"),
            table.c[column] == keys.c.key,
        )
        .limit(literal_column("1"))  # a subquery with LIMIT is not flattened into a join
        .lateral("found")
    )
    return select(*found.c).select_from(keys).join(found, true())


@cache
def _event_with_notice() -> Executable:
    """PostgreSQL: insert an event (its columns as parameters) and an outbox row of
    `:notice_kind` whose payload is the JSON `_json({"event_id": id})` would write, due at
    the event's time; returns the event's id. One round trip where two were."""
    event_columns = [column.key for column in consent_events.c if column.key != "id"]
    event = (
        insert(consent_events)
        .values(
            {name: bindparam(name, type_=consent_events.c[name].type) for name in event_columns}
        )
        .returning(consent_events.c.id)
        .cte("event")
    )
    payload = literal('{"event_id":') + func.cast(event.c.id, Text()) + literal("}")
    notice_row = select(
        bindparam("tenant_id", type_=outbox.c.tenant_id.type).label("tenant_id"),
        bindparam("notice_kind", type_=outbox.c.kind.type).label("kind"),
        payload.label("payload"),
        bindparam("occurred_at", type_=outbox.c.created_at.type).label("created_at"),
        literal(0, type_=Integer()).label("attempts"),
        bindparam("occurred_at", type_=outbox.c.run_at.type).label("run_at"),
    ).select_from(event)
    notice = (
        insert(outbox)
        .from_select(list(notice_row.selected_columns.keys()), notice_row)
        .cte("notice")
    )
    return select(event.c.id).add_cte(notice)


@cache
def _find_or_add_address() -> Executable:
    """PostgreSQL: the address of (`:tenant_id`, `:channel`, `:value_digest`, `:value`),
    inserted (with `:contact_id`, `:created_at`, and `:value_digest` as its hash too) if
    there is none; no row if another transaction added it meanwhile. One round trip where
    a look-up and an insert took two."""
    columns = addresses.c
    found = (
        select(addresses)
        .where(
            columns.tenant_id == bindparam("tenant_id"),
            columns.channel == bindparam("channel"),
            columns.value_digest == bindparam("value_digest"),
            columns.value == bindparam("value"),
        )
        .cte("found")
    )
    new_row = select(
        bindparam("tenant_id", type_=columns.tenant_id.type).label("tenant_id"),
        bindparam("channel", type_=columns.channel.type).label("channel"),
        bindparam("value", type_=columns.value.type).label("value"),
        bindparam("value_digest", type_=columns.value_digest.type).label("value_digest"),
        bindparam("value_digest", type_=columns.address_hash.type).label("address_hash"),
        bindparam("contact_id", type_=columns.contact_id.type).label("contact_id"),
        bindparam("created_at", type_=columns.created_at.type).label("created_at"),
    ).where(~select(found.c.id).exists())
    added = (
        postgresql.insert(addresses)
        .from_select(list(new_row.selected_columns.keys()), new_row)
        .on_conflict_do_nothing()
        .returning(*columns)
        .cte("added")
    )
    return select(found).union_all(select(added))


def _array_input(table: Table, names: Sequence[str], extra: Sequence[tuple[str, str]] = ()) -> str:
    """PostgreSQL: `unnest` of one array parameter per column of `table` in `names` (and
    per (name, SQL type) of `extra`), each named as its column, numbered `n` in order."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    typed = [(name, table.c[name].type.compile(dialect=dialect)) for name in names]
    arrays = ", ".join(f"CAST(%({name})s AS {type_}[])" for name, type_ in (*typed, *extra))
    columns = ", ".join(name for name, _ in (*typed, *extra))
    # Built from the table's own column names and types, never from values.
    return f"SELECT * FROM unnest({arrays}) WITH ORDINALITY AS input({columns}, n)"  # noqa: S608


_ADDRESS_KEY_COLUMNS: Final = ("tenant_id", "channel", "value", "value_digest", "created_at")


@cache
def _find_or_add_addresses_sql() -> str:
    """PostgreSQL: `_find_or_add_address` of many addresses (arrays of `_ADDRESS_KEY_COLUMNS`)
    in one statement: the ones found, and the others inserted in their order (their ids
    ascending in it); an address another transaction added meanwhile is in neither."""
    names = ", ".join(column.key for column in addresses.c)
    return (  # column names and types, never values
        f"WITH input AS MATERIALIZED ({_array_input(addresses, _ADDRESS_KEY_COLUMNS)}),"  # noqa: S608
        f" found AS MATERIALIZED (SELECT a.* FROM input"
        " JOIN addresses AS a ON a.tenant_id = input.tenant_id"
        " AND a.channel = input.channel AND a.value_digest = input.value_digest"
        " AND a.value = input.value),"
        " added AS (INSERT INTO addresses"
        " (tenant_id, channel, value, value_digest, address_hash, contact_id, created_at)"
        " SELECT tenant_id, channel, value, value_digest, value_digest, NULL, created_at"
        " FROM input WHERE NOT EXISTS (SELECT FROM found WHERE found.tenant_id ="
        " input.tenant_id AND found.channel = input.channel"
        " AND found.value_digest = input.value_digest)"
        f" ORDER BY n ON CONFLICT DO NOTHING RETURNING {names})"
        f" SELECT {names} FROM found UNION ALL SELECT {names} FROM added"
    )


@cache
def _add_suppressions_sql() -> str:
    """PostgreSQL: `add` of many suppressions (arrays of `_SUPPRESSION_COLUMNS`) in
    their order, in one statement; returns the keys of those added."""
    names = ", ".join(_SUPPRESSION_COLUMNS)
    return (  # column names and types, never values
        f"INSERT INTO suppressions ({names})"  # noqa: S608
        f" SELECT {names} FROM ({_array_input(suppressions, _SUPPRESSION_COLUMNS)}) AS rows"
        " ORDER BY n ON CONFLICT DO NOTHING RETURNING tenant_id, channel, address_hash"
    )


@cache
def _events_with_notices_sql() -> str:
    """PostgreSQL: `add` of many events (arrays of their columns), each with the outbox
    row `_event_with_notice` adds where its `notice_kind` is not null, in one statement.
    The ids are drawn in the events' order before either insert, so the events' and the
    notices' ids ascend in it as they would one by one; returns the events' ids in order."""
    names = [column.key for column in consent_events.c if column.key != "id"]
    listed = ", ".join(names)
    source = _array_input(consent_events, names, extra=(("notice_kind", "VARCHAR(64)"),))
    return (  # column names and types, never values
        "WITH input AS MATERIALIZED (SELECT"  # noqa: S608
        " nextval(pg_get_serial_sequence('consent_events', 'id')) AS id, rows.*"
        f" FROM ({source} ORDER BY n) AS rows),"
        f" event AS (INSERT INTO consent_events (id, {listed})"
        f" SELECT id, {listed} FROM input ORDER BY n),"
        " notice AS (INSERT INTO outbox (tenant_id, kind, payload, created_at, attempts, run_at)"
        " SELECT tenant_id, notice_kind, '{\"event_id\":' || CAST(id AS TEXT) || '}',"
        " occurred_at, 0, occurred_at FROM input WHERE notice_kind IS NOT NULL ORDER BY n)"
        " SELECT id FROM input ORDER BY n"
    )


def _arrays(rows: Sequence[Mapping[str, object]], names: Sequence[str]) -> dict[str, list[object]]:
    """The column arrays of `rows` (the parameters of `_array_input`)."""
    return {name: [row[name] for row in rows] for name in names}


@cache
def _subscriptions_of_pairs() -> Select[*tuple[Any, ...]]:
    """The subscriptions whose (address_id, topic_id) is among `:pairs` (expanding)."""
    return select(subscriptions).where(
        tuple_(subscriptions.c.address_id, subscriptions.c.topic_id).in_(
            bindparam("pairs", expanding=True)
        )
    )


_Owned = TypeVar("_Owned", Address, Message)


def _of_tenant(row: _Owned | None, tenant_id: int) -> _Owned | None:
    """`row` if it belongs to `tenant_id`: what a `get` by tenant and id answers."""
    return row if row is not None and row.tenant_id == tenant_id else None


def _owned_by_id(
    connection: Connection,
    table: Table,
    keys: Sequence[tuple[int, int]],
    entry: Callable[[_Row], _Owned],
) -> list[_Owned | None]:
    """The rows of `table` with the ids of `keys` (tenant id, id), in their order, read by
    id in one statement per chunk; a row of another tenant is None, as `get` answers."""
    statement = _select_in(table, "id")

    def rows_of(ids: list[int]) -> Iterable[_Row]:
        return connection.execute(statement, {"values": ids})

    found = {row.id: row for row in _collect(rows_of, [key[1] for key in keys], entry)}
    return [_of_tenant(found.get(row_id), tenant_id) for tenant_id, row_id in keys]


def _dialect_insert(dialect: str) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _insert_new(
    executor: CursorExecutor, table: Table, values: Mapping[str, object], *, conflict: str
) -> Record:
    """Insert one row and return its primary key; `Conflict(conflict)` if a unique key
    is taken. The transaction stays usable either way."""
    row = executor.first(_insert_new_statement(executor.dialect_name, table), values)
    if row is None:
        raise Conflict(conflict)
    return row


# --- bulk writes -------------------------------------------------------------------------
# An import writes thousands of rows per transaction (decision 0021). They go in with one
# statement per table: `executemany` of the cached INSERT on SQLite (sqlite3 loops in C),
# COPY on PostgreSQL. Ids are allocated before the rows are written, so none has to be
# read back: on SQLite from the table's largest id, which is what SQLite itself would
# give (the writer holds the database's write lock for the whole transaction); on
# PostgreSQL from the column's sequence, in one statement.


@cache
def _largest_id(table: Table) -> Select[*tuple[Any, ...]]:
    return select(func.coalesce(func.max(table.c.id), 0).label("id"))


@cache
def _next_ids(table: Table) -> Select[*tuple[Any, ...]]:
    sequence = func.pg_get_serial_sequence(literal(table.name), literal("id"))
    return select(func.nextval(sequence).label("id")).select_from(
        func.generate_series(1, bindparam("count", type_=Integer()))
    )


def _new_ids(executor: CursorExecutor, table: Table, count: int) -> list[int]:
    """`count` ids for new rows of `table`, in ascending order."""
    if count == 0:
        return []
    if executor.dialect_name == "postgresql":
        return sorted(int(row.id) for row in executor.all(_next_ids(table), {"count": count}))
    row = executor.first(_largest_id(table))
    largest = 0 if row is None else int(row.id)
    return list(range(largest + 1, largest + 1 + count))


@dataclass(frozen=True, slots=True)
class _Bulk:
    """How rows of some columns of a table go in with one statement on this dialect:
    `executemany` of the cached INSERT on SQLite, COPY on PostgreSQL."""

    table: Table
    sql: str
    copy: bool
    time: Callable[[datetime], object]
    """An aware datetime as the database value of a `DateTime` column, as `Plan.values`
    converts it: the rows arrive as tuples of database values, converted by the caller
    (a batch's rows share a few datetimes, each converted once)."""


def _bulk(executor: CursorExecutor, table: Table, names: tuple[str, ...]) -> _Bulk:
    """The `_Bulk` of rows that are tuples of `table`'s columns `names`, in that order."""
    if executor.dialect_name == "postgresql":
        columns = ", ".join(f'"{name}"' for name in names)
        return _Bulk(table, f'COPY "{table.name}" ({columns}) FROM STDIN', True, _to_db)
    plan = executor.plan(_insert(table), names)
    converted = {names[index]: process for index, process in plan.processors}
    if plan.keys != names or not {
        name for name in converted if isinstance(table.c[name].type, DateTime)
    } == set(converted):
        raise ValueError(f"{table.name}: only datetimes may need converting in bulk")
    process = next(iter(converted.values()), None)
    if process is None:
        return _Bulk(table, plan.sql, False, _to_db)
    return _Bulk(table, plan.sql, False, lambda moment: process(_to_db(moment)))


def _insert_rows(executor: CursorExecutor, bulk: _Bulk, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert `rows` (tuples of database values in the order `bulk` was made for); a
    uniqueness clash raises `Conflict` (the transaction must then be rolled back to the
    work's savepoint, which `SqlTransactions` does for a work that raises)."""
    if not rows:
        return
    try:
        if bulk.copy:
            executor.copy_rows(bulk.sql, rows)
        else:
            executor.run_many(bulk.sql, rows)
    except IntegrityError as exc:
        raise Conflict(f"a row of {bulk.table.name} already exists") from exc


_ADDRESS_COLUMNS: Final = (
    "id",
    "tenant_id",
    "channel",
    "value",
    "value_digest",
    "address_hash",
    "contact_id",
    "created_at",
)
_SUPPRESSION_COLUMNS: Final = (
    "tenant_id",
    "channel",
    "address_hash",
    "address_id",
    "reason",
    "created_at",
)
_OUTBOX_COLUMNS: Final = ("tenant_id", "kind", "payload", "created_at", "attempts", "run_at")
_EVENT_COLUMNS: Final = (
    "id",
    "tenant_id",
    "occurred_at",
    "action",
    "outcome",
    "channel",
    "address_hash",
    "address_id",
    "contact_id",
    "topic_id",
    "state",
    "via",
    "actor",
    "device",
    "entrypoint",
    "tags",
    "context",
    "request_id",
    "idempotency_key",
    "locale",
    "ip",
    "user_agent",
    "unsubscribe_request_id",
    "message_uid",
    "campaign",
)


def _imported_columns(*, targeted: bool, provenance: tuple[str, ...]) -> tuple[str, ...]:
    """The `consent_events` columns of an import batch's rows, in the table's order: the
    id, tenant, time, action, outcome and address; the contact, topic and state if
    `targeted` (some row has one); then the `provenance` columns that are set. An import
    sets no unsubscribe request, message or campaign."""
    row = ("contact_id", "topic_id", "state") if targeted else ()
    return (*_EVENT_COLUMNS[:8], *row, *provenance)


# --- row mappings ------------------------------------------------------------------------


def _tenant_from_row(row: Record) -> Tenant:
    return Tenant(
        id=row.id,
        name=row.name,
        default_region=row.default_region,
        default_locale=row.default_locale,
        grace_period=row.grace_period,
        created_at=_from_db(row.created_at),
        pages=PageSettings(
            display_name=row.display_name,
            accent_color=row.accent_color,
            logo=None if row.logo is None else bytes(row.logo),
            logo_type=row.logo_type,
            undo_period=row.undo_period or DEFAULT_UNDO_PERIOD,
            link_lifetime=row.link_lifetime or DEFAULT_LINK_LIFETIME,
        ),
    )


def _api_key_from_row(row: Record) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        prefix=row.prefix,
        key_hash=row.key_hash,
        scope=Scope(row.scope),
        created_at=_from_db(row.created_at),
        revoked_at=_from_db_or_none(row.revoked_at),
    )


def _topic_from_row(row: Record) -> Topic:
    return Topic(
        id=row.id,
        tenant_id=row.tenant_id,
        key=row.key,
        name=row.name,
        category=Category(row.category),
        consent_mode=ConsentMode(row.consent_mode),
        double_opt_in=bool(row.double_opt_in),
        channels=_channels_from_text(row.channels),
        unsubscribable=bool(row.unsubscribable),
        created_at=_from_db(row.created_at),
    )


def _contact_from_row(row: Record) -> Contact:
    return Contact(
        id=row.id,
        tenant_id=row.tenant_id,
        external_id=row.external_id,
        locale=row.locale,
        created_at=_from_db(row.created_at),
        erased_at=_from_db_or_none(row.erased_at),
    )


def _address_from_row(row: Record) -> Address:
    return Address(
        id=row.id,
        tenant_id=row.tenant_id,
        channel=Channel(row.channel),
        value=row.value,
        address_hash=row.address_hash,
        contact_id=row.contact_id,
        created_at=_from_db(row.created_at),
    )


def _subscription_from_row(row: Record) -> Subscription:
    return Subscription(
        address_id=row.address_id,
        topic_id=row.topic_id,
        state=SubscriptionState(row.state),
        updated_at=_from_db(row.updated_at),
    )


def _suppression_from_row(row: Record) -> Suppression:
    return Suppression(
        tenant_id=row.tenant_id,
        channel=Channel(row.channel),
        address_hash=row.address_hash,
        address_id=row.address_id,
        reason=row.reason,
        created_at=_from_db(row.created_at),
    )


def _event_from_row(row: Record) -> ConsentEvent:
    return ConsentEvent(
        id=row.id,
        tenant_id=row.tenant_id,
        occurred_at=_from_db(row.occurred_at),
        action=Action(row.action),
        outcome=Outcome(row.outcome),
        channel=None if row.channel is None else Channel(row.channel),
        address_hash=row.address_hash,
        address_id=row.address_id,
        contact_id=row.contact_id,
        topic_id=row.topic_id,
        state=None if row.state is None else SubscriptionState(row.state),
        provenance=Provenance(
            via=row.via,
            actor=row.actor,
            device=row.device,
            entrypoint=row.entrypoint,
            tags=tuple(json.loads(row.tags)),
            context=json.loads(row.context),
            request_id=row.request_id,
            idempotency_key=row.idempotency_key,
            locale=row.locale,
            ip=row.ip,
            user_agent=row.user_agent,
        ),
        unsubscribe_request_id=row.unsubscribe_request_id,
        message_uid=row.message_uid,
        campaign=row.campaign,
    )


def _provenance_values(provenance: Provenance) -> dict[str, object]:
    """The provenance columns of an event, in the table's order."""
    return {
        "via": provenance.via,
        "actor": provenance.actor,
        "device": provenance.device,
        "entrypoint": provenance.entrypoint,
        "tags": _json(list(provenance.tags)),
        "context": _json(dict(provenance.context)),
        "request_id": provenance.request_id,
        "idempotency_key": provenance.idempotency_key,
        "locale": provenance.locale,
        "ip": provenance.ip,
        "user_agent": provenance.user_agent,
    }


def _event_values(event: ConsentEvent) -> dict[str, object]:
    """The event's columns."""
    return {
        "tenant_id": event.tenant_id,
        "occurred_at": _to_db(event.occurred_at),
        "action": event.action.value,
        "outcome": event.outcome.value,
        "channel": None if event.channel is None else event.channel.value,
        "address_hash": event.address_hash,
        "address_id": event.address_id,
        "contact_id": event.contact_id,
        "topic_id": event.topic_id,
        "state": None if event.state is None else event.state.value,
        **_provenance_values(event.provenance),
        "unsubscribe_request_id": event.unsubscribe_request_id,
        "message_uid": event.message_uid,
        "campaign": event.campaign,
    }


def _request_from_row(row: Record) -> UnsubscribeRequest:
    return UnsubscribeRequest(
        id=row.id,
        tenant_id=row.tenant_id,
        contact_id=row.contact_id,
        address_id=row.address_id,
        topic_ids=_ids_from_text(row.topic_ids),
        state=RequestState(row.state),
        created_at=_from_db(row.created_at),
        effective_at=_from_db(row.effective_at),
        closed_at=_from_db_or_none(row.closed_at),
    )


def _message_from_row(row: Record) -> Message:
    return Message(
        id=row.id,
        tenant_id=row.tenant_id,
        message_uid=row.message_uid,
        address_id=row.address_id,
        topic_id=row.topic_id,
        campaign=row.campaign,
        created_at=_from_db(row.created_at),
    )


def _confirmation_from_row(row: Record) -> Confirmation:
    return Confirmation(
        token_hash=row.token_hash,
        tenant_id=row.tenant_id,
        address_id=row.address_id,
        topic_id=row.topic_id,
        created_at=_from_db(row.created_at),
        expires_at=_from_db(row.expires_at),
        confirmed_at=_from_db_or_none(row.confirmed_at),
    )


def _idempotency_record_from_row(row: Record) -> ports.IdempotencyRecord:
    return ports.IdempotencyRecord(
        tenant_id=row.tenant_id,
        api_key_id=row.api_key_id,
        key=row.key,
        sealed=bytes(row.sealed),
        created_at=_from_db(row.created_at),
    )


def _import_run_from_row(row: Record) -> ports.ImportRun:
    return ports.ImportRun(
        id=row.id,
        tenant_id=row.tenant_id,
        digest=row.digest,
        rows=row.rows,
        applied=row.applied,
        changed=row.changed,
        repeated=row.repeated,
        created_at=_from_db(row.created_at),
        updated_at=_from_db(row.updated_at),
        finished_at=_from_db_or_none(row.finished_at),
    )


# --- repositories ------------------------------------------------------------------------


class SqlTenantRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(
        self,
        *,
        name: str,
        default_region: str,
        default_locale: str,
        grace_period: timedelta,
        created_at: datetime,
    ) -> Tenant:
        created = _to_db(created_at)
        values = {
            "name": name,
            "default_region": default_region,
            "default_locale": default_locale,
            "grace_period": grace_period,
            "created_at": created,
        }
        row = _insert_new(
            self._executor, tenants, values, conflict="a tenant with this name already exists"
        )
        return Tenant(
            id=row.id,
            name=name,
            default_region=default_region,
            default_locale=default_locale,
            grace_period=grace_period,
            created_at=_from_db(created),
        )

    def get(self, tenant_id: int) -> Tenant | None:
        row = self._executor.first(_select(tenants, ("id",)), {"id": tenant_id})
        return None if row is None else _tenant_from_row(row)

    def by_name(self, name: str) -> Tenant | None:
        row = self._connection.execute(_select(tenants, ("name",)), {"name": name}).first()
        return None if row is None else _tenant_from_row(row)

    def all(self) -> list[Tenant]:
        rows = self._connection.execute(_select(tenants, (), ("id",)))
        return [_tenant_from_row(row) for row in rows]

    def set_pages(self, tenant_id: int, pages: PageSettings) -> None:
        self._connection.execute(
            _update(tenants, ("id",)),
            {
                "where_id": tenant_id,
                "display_name": pages.display_name,
                "accent_color": pages.accent_color,
                "logo": pages.logo,
                "logo_type": pages.logo_type,
                "undo_period": pages.undo_period,
                "link_lifetime": pages.link_lifetime,
            },
        )


class SqlApiKeyRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(
        self,
        *,
        tenant_id: int,
        name: str,
        prefix: str,
        key_hash: str,
        scope: Scope,
        created_at: datetime,
    ) -> ApiKey:
        created = _to_db(created_at)
        values = {
            "tenant_id": tenant_id,
            "name": name,
            "prefix": prefix,
            "key_hash": key_hash,
            "scope": scope.value,
            "created_at": created,
        }
        row = _insert_new(
            self._executor, api_keys, values, conflict="an API key with this hash already exists"
        )
        return ApiKey(
            id=row.id,
            tenant_id=tenant_id,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            scope=scope,
            created_at=_from_db(created),
        )

    def get(self, tenant_id: int, key_id: int) -> ApiKey | None:
        statement = _select(api_keys, ("tenant_id", "id"))
        row = self._connection.execute(statement, {"tenant_id": tenant_id, "id": key_id}).first()
        return None if row is None else _api_key_from_row(row)

    def by_hash(self, key_hash: str) -> ApiKey | None:
        statement = _select(api_keys, ("key_hash",))
        row = self._connection.execute(statement, {"key_hash": key_hash}).first()
        return None if row is None else _api_key_from_row(row)

    def of_tenant(self, tenant_id: int) -> list[ApiKey]:
        statement = _select(api_keys, ("tenant_id",), ("id",))
        rows = self._connection.execute(statement, {"tenant_id": tenant_id})
        return [_api_key_from_row(row) for row in rows]

    def revoke(self, key_id: int, *, at: datetime) -> None:
        """Revoke the key; a key revoked before keeps its first revocation time."""
        self._connection.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=_to_db(at))
        )


class SqlTopicRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(
        self,
        *,
        tenant_id: int,
        key: str,
        name: str,
        category: Category,
        consent_mode: ConsentMode,
        double_opt_in: bool,
        channels: frozenset[Channel],
        unsubscribable: bool,
        created_at: datetime,
    ) -> Topic:
        created = _to_db(created_at)
        values = {
            "tenant_id": tenant_id,
            "key": key,
            "name": name,
            "category": category.value,
            "consent_mode": consent_mode.value,
            "double_opt_in": double_opt_in,
            "channels": _channels_text(channels),
            "unsubscribable": unsubscribable,
            "created_at": created,
        }
        row = _insert_new(
            self._executor, topics, values, conflict="a topic with this key already exists"
        )
        return Topic(
            id=row.id,
            tenant_id=tenant_id,
            key=key,
            name=name,
            category=category,
            consent_mode=consent_mode,
            double_opt_in=double_opt_in,
            channels=channels,
            unsubscribable=unsubscribable,
            created_at=_from_db(created),
        )

    def get(self, tenant_id: int, topic_id: int) -> Topic | None:
        statement = _select(topics, ("tenant_id", "id"))
        row = self._executor.first(statement, {"tenant_id": tenant_id, "id": topic_id})
        return None if row is None else _topic_from_row(row)

    def by_key(self, tenant_id: int, key: str) -> Topic | None:
        statement = _select(topics, ("tenant_id", "key"))
        row = self._executor.first(statement, {"tenant_id": tenant_id, "key": key})
        return None if row is None else _topic_from_row(row)

    def of_tenant(self, tenant_id: int) -> list[Topic]:
        statement = _select(topics, ("tenant_id",), ("id",))
        rows = self._connection.execute(statement, {"tenant_id": tenant_id})
        return [_topic_from_row(row) for row in rows]


class SqlContactRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(
        self, *, tenant_id: int, external_id: str, locale: str | None, created_at: datetime
    ) -> Contact:
        created = _to_db(created_at)
        values = {
            "tenant_id": tenant_id,
            "external_id": external_id,
            "locale": locale,
            "created_at": created,
        }
        row = _insert_new(
            self._executor,
            contacts,
            values,
            conflict="a contact with this external id already exists",
        )
        return Contact(
            id=row.id,
            tenant_id=tenant_id,
            external_id=external_id,
            locale=locale,
            created_at=_from_db(created),
        )

    def get(self, tenant_id: int, contact_id: int) -> Contact | None:
        statement = _select(contacts, ("tenant_id", "id"))
        parameters = {"tenant_id": tenant_id, "id": contact_id}
        row = self._connection.execute(statement, parameters).first()
        return None if row is None else _contact_from_row(row)

    def by_external_id(self, tenant_id: int, external_id: str) -> Contact | None:
        statement = _select(contacts, ("tenant_id", "external_id"))
        parameters = {"tenant_id": tenant_id, "external_id": external_id}
        row = self._connection.execute(statement, parameters).first()
        return None if row is None else _contact_from_row(row)

    def set_locale(self, contact_id: int, locale: str) -> None:
        self._connection.execute(
            _update(contacts, ("id",)), {"where_id": contact_id, "locale": locale}
        )

    def mark_erased(self, contact_id: int, *, at: datetime) -> None:
        self._connection.execute(
            _update(contacts, ("id",)),
            {"where_id": contact_id, "external_id": None, "locale": None, "erased_at": _to_db(at)},
        )


class SqlAddressRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(
        self,
        *,
        tenant_id: int,
        channel: Channel,
        value: str,
        address_hash: str,
        contact_id: int | None,
        created_at: datetime,
    ) -> Address:
        created = _to_db(created_at)
        values = {
            "tenant_id": tenant_id,
            "channel": channel.value,
            "value": value,
            "value_digest": address_hash,
            "address_hash": address_hash,
            "contact_id": contact_id,
            "created_at": created,
        }
        row = _insert_new(self._executor, addresses, values, conflict="this address already exists")
        return Address(
            id=row.id,
            tenant_id=tenant_id,
            channel=channel,
            value=value,
            address_hash=address_hash,
            contact_id=contact_id,
            created_at=_from_db(created),
        )

    def add_many(
        self, *, tenant_id: int, keys: Sequence[tuple[Channel, str, str]], created_at: datetime
    ) -> list[int]:
        """Insert new addresses, (channel, value, hash) each, without a contact; their ids.
        `Conflict` if one exists already (another process added it since the caller looked)."""
        bulk = _bulk(self._executor, addresses, _ADDRESS_COLUMNS)
        created = bulk.time(created_at)
        ids = _new_ids(self._executor, addresses, len(keys))
        rows = [
            (address_id, tenant_id, channel.value, value, address_hash, address_hash, None, created)
            for address_id, (channel, value, address_hash) in zip(ids, keys, strict=True)
        ]
        _insert_rows(self._executor, bulk, rows)
        return ids

    def get(self, tenant_id: int, address_id: int) -> Address | None:
        statement = _select(addresses, ("tenant_id", "id"))
        parameters = {"tenant_id": tenant_id, "id": address_id}
        row = self._executor.first(statement, parameters)
        return None if row is None else _address_from_row(row)

    def find(
        self, tenant_id: int, channel: Channel, value: str, address_hash: str
    ) -> Address | None:
        statement = _select(addresses, ("tenant_id", "channel", "value_digest", "value"))
        parameters = {
            "tenant_id": tenant_id,
            "channel": channel.value,
            "value_digest": address_hash,
            "value": value,
        }
        row = self._executor.first(statement, parameters)
        return None if row is None else _address_from_row(row)

    def find_or_add(
        self,
        *,
        tenant_id: int,
        channel: Channel,
        value: str,
        address_hash: str,
        contact_id: int | None,
        created_at: datetime,
    ) -> Address:
        """`find`, else `add`: on PostgreSQL in one statement (`_find_or_add_address`),
        on SQLite (one writer at a time, no round trips) as the two.

        If another transaction adds the address at the same moment, PostgreSQL's insert
        waits for it and adds nothing, and the statement's snapshot does not see the
        other's row: the look-up is made once more, in a statement of its own."""
        if self._executor.dialect_name == "postgresql":
            values = {
                "tenant_id": tenant_id,
                "channel": channel.value,
                "value_digest": address_hash,
                "value": value,
                "contact_id": contact_id,
                "created_at": _to_db(created_at),
            }
            row = self._executor.first(_find_or_add_address(), values)
            if row is not None:
                return _address_from_row(row)
        else:
            found = self.find(tenant_id, channel, value, address_hash)
            if found is not None:
                return found
            try:
                return self.add(
                    tenant_id=tenant_id,
                    channel=channel,
                    value=value,
                    address_hash=address_hash,
                    contact_id=contact_id,
                    created_at=created_at,
                )
            except Conflict:
                pass
        found = self.find(tenant_id, channel, value, address_hash)
        if found is None:
            raise Conflict("this address already exists")
        return found

    def find_or_add_each(self, keys: Sequence[ports.AddressToFind]) -> list[Address]:
        """`find_or_add` of each key (without a contact), in order: on PostgreSQL in one
        statement (`_find_or_add_addresses_sql`; an address another transaction added
        meanwhile is looked up again on its own), on SQLite in three
        (`_find_or_add_each_on_sqlite`)."""
        if len(keys) < 2:
            return [
                self.find_or_add(
                    tenant_id=key.tenant_id,
                    channel=key.channel,
                    value=key.value,
                    address_hash=key.address_hash,
                    contact_id=None,
                    created_at=key.created_at,
                )
                for key in keys
            ]
        if self._executor.dialect_name != "postgresql":
            return self._find_or_add_each_on_sqlite(keys)
        values = {
            "tenant_id": [key.tenant_id for key in keys],
            "channel": [key.channel.value for key in keys],
            "value": [key.value for key in keys],
            "value_digest": [key.address_hash for key in keys],
            "created_at": [_to_db(key.created_at) for key in keys],
        }
        rows = self._executor.rows_of_driver_sql(_find_or_add_addresses_sql(), values)
        found = {
            (row[1], row[2], row[4]): Address(
                id=row[0],
                tenant_id=row[1],
                channel=Channel(row[2]),
                value=row[3],
                address_hash=row[5],
                contact_id=row[6],
                created_at=_from_db(row[7]),
            )
            for row in rows
        }
        result = []
        for key in keys:
            address = found.get((key.tenant_id, key.channel.value, key.address_hash))
            if address is None or address.value != key.value:
                address = self.find(key.tenant_id, key.channel, key.value, key.address_hash)
                if address is None:
                    raise Conflict("this address already exists")
            result.append(address)
        return result

    def _find_or_add_each_on_sqlite(self, keys: Sequence[ports.AddressToFind]) -> list[Address]:
        """`find_or_add_each` on SQLite: the known ones read in one statement per (tenant,
        channel), the others inserted in one `executemany`, in the keys' order, with the
        ids SQLite would give them one by one (the writer holds the write lock, so the
        largest id is the last one given). A key whose hash is known with another value
        is a `Conflict`, as `find_or_add` makes it."""
        hashes: dict[tuple[int, str], list[str]] = {}
        for key in keys:
            hashes.setdefault((key.tenant_id, key.channel.value), []).append(key.address_hash)
        found: dict[tuple[int, str, str], Address] = {}
        for (tenant_id, channel), among in hashes.items():
            parameters = {
                "tenant_id": tenant_id,
                "channel": channel,
                "keys": _key_list("sqlite", among),
            }
            for row in self._executor.all(_keyed_by_json(addresses, "value_digest"), parameters):
                found[(tenant_id, channel, row.value_digest)] = _address_from_row(row)
        new: dict[tuple[int, str, str], ports.AddressToFind] = {}
        for key in keys:
            at = (key.tenant_id, key.channel.value, key.address_hash)
            if at not in found:
                new.setdefault(at, key)
        if new:
            bulk = _bulk(self._executor, addresses, _ADDRESS_COLUMNS)
            ids = _new_ids(self._executor, addresses, len(new))
            rows = []
            for address_id, (at, key) in zip(ids, new.items(), strict=True):
                created = _to_db(key.created_at)
                rows.append(
                    (
                        address_id,
                        key.tenant_id,
                        key.channel.value,
                        key.value,
                        key.address_hash,
                        key.address_hash,
                        None,
                        bulk.time(key.created_at),
                    )
                )
                found[at] = Address(
                    id=address_id,
                    tenant_id=key.tenant_id,
                    channel=key.channel,
                    value=key.value,
                    address_hash=key.address_hash,
                    contact_id=None,
                    created_at=_from_db(created),
                )
            _insert_rows(self._executor, bulk, rows)
        result = [found[(key.tenant_id, key.channel.value, key.address_hash)] for key in keys]
        if any(address.value != key.value for address, key in zip(result, keys, strict=True)):
            raise Conflict("this address already exists")
        return result

    def get_each(self, keys: Sequence[tuple[int, int]]) -> list[Address | None]:
        """`get` of each (tenant id, address id), in order: on PostgreSQL in one
        statement by id (an address of another tenant is None, as `get` answers), on
        SQLite one by one."""
        if self._executor.dialect_name != "postgresql" or len(keys) < 2:
            return [self.get(tenant_id, address_id) for tenant_id, address_id in keys]
        return _owned_by_id(self._connection, addresses, keys, _address_from_row)

    def find_many(
        self, tenant_id: int, channel: Channel, values: Mapping[str, str]
    ) -> dict[str, Address]:
        """The known addresses among `values` (value → its hash), keyed by value."""
        requested = values
        if self._executor.dialect_name != "postgresql":
            parameters = {
                "tenant_id": tenant_id,
                "channel": channel.value,
                "keys": _key_list("sqlite", list(requested.values())),
            }
            rows = self._executor.all(_keyed_by_json(addresses, "value_digest"), parameters)
            found = [_address_from_row(row) for row in rows]
        else:
            statement = _probing(addresses, "value_digest")

            def rows_of(digests: list[str]) -> Iterable[_Row]:
                parameters = {"tenant_id": tenant_id, "channel": channel.value, "values": digests}
                return self._connection.execute(statement, parameters)

            found = _collect(rows_of, list(requested.values()), _address_from_row, size=PROBE_CHUNK)
        return {address.value: address for address in found if address.value in requested}

    def of_contact(self, tenant_id: int, contact_id: int) -> list[Address]:
        statement = _select(addresses, ("tenant_id", "contact_id"), ("id",))
        rows = self._connection.execute(
            statement, {"tenant_id": tenant_id, "contact_id": contact_id}
        )
        return [_address_from_row(row) for row in rows]

    def attach(self, address_id: int, *, contact_id: int) -> None:
        self._connection.execute(
            _update(addresses, ("id",)), {"where_id": address_id, "contact_id": contact_id}
        )

    def delete(self, address_ids: Collection[int]) -> None:
        for chunk in _chunks(address_ids):
            self._connection.execute(_delete_in(addresses, "id"), {"values": chunk})


class SqlSubscriptionRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def get(self, address_id: int, topic_id: int) -> Subscription | None:
        statement = _select(subscriptions, ("address_id", "topic_id"))
        parameters = {"address_id": address_id, "topic_id": topic_id}
        row = self._executor.first(statement, parameters)
        return None if row is None else _subscription_from_row(row)

    def get_each(self, keys: Sequence[tuple[int, int]]) -> list[Subscription | None]:
        """`get` of each (address id, topic id), in order: on PostgreSQL in one statement,
        on SQLite one by one."""
        if self._executor.dialect_name != "postgresql" or len(keys) < 2:
            return [self.get(address_id, topic_id) for address_id, topic_id in keys]
        statement = _subscriptions_of_pairs()

        def rows_of(pairs: list[tuple[int, int]]) -> Iterable[_Row]:
            return self._connection.execute(statement, {"pairs": pairs})

        found = {
            (row.address_id, row.topic_id): row
            for row in _collect(rows_of, keys, _subscription_from_row)
        }
        return [found.get(key) for key in keys]

    def put(self, subscription: Subscription) -> None:
        """Insert or replace the row for (address, topic)."""
        self._executor.run(
            _upsert_subscription(self._executor.dialect_name),
            {
                "address_id": subscription.address_id,
                "topic_id": subscription.topic_id,
                "state": subscription.state.value,
                "updated_at": _to_db(subscription.updated_at),
            },
        )

    def put_many(self, rows: Sequence[Subscription]) -> None:
        """`put` each of `rows` (at most one per (address, topic)), in one statement."""
        if not rows:
            return
        values = [
            {
                "address_id": row.address_id,
                "topic_id": row.topic_id,
                "state": row.state.value,
                "updated_at": _to_db(row.updated_at),
            }
            for row in rows
        ]
        plan = self._executor.plan(
            _upsert_subscription(self._executor.dialect_name), tuple(values[0])
        )
        self._executor.run_many(plan.sql, [plan.values(v) for v in values])  # type: ignore[misc]

    def remove(self, address_id: int, topic_id: int) -> None:
        self._connection.execute(
            _delete(subscriptions, ("address_id", "topic_id")),
            {"address_id": address_id, "topic_id": topic_id},
        )

    def states(self, topic_id: int, address_ids: Collection[int]) -> dict[int, SubscriptionState]:
        """address id → state, for the addresses among `address_ids` that have a row."""
        statement = _select_in(subscriptions, "address_id", ("topic_id",))

        def rows_of(chunk: list[int]) -> Iterable[_Row]:
            return self._connection.execute(statement, {"topic_id": topic_id, "values": chunk})

        pairs = _collect(rows_of, address_ids, lambda row: (row.address_id, row.state))
        return {address_id: SubscriptionState(state) for address_id, state in pairs}

    def of_addresses(self, address_ids: Collection[int]) -> list[Subscription]:
        statement = _select_in(subscriptions, "address_id", (), ("address_id", "topic_id"))

        def rows_of(chunk: list[int]) -> Iterable[_Row]:
            return self._connection.execute(statement, {"values": chunk})

        return _collect(rows_of, address_ids, _subscription_from_row)

    def delete_of_addresses(self, address_ids: Collection[int]) -> None:
        for chunk in _chunks(address_ids):
            self._connection.execute(_delete_in(subscriptions, "address_id"), {"values": chunk})

    def snapshot(self, tenant_id: int) -> dict[tuple[str, int], SubscriptionState]:
        """(address hash, topic id) → state for the whole tenant, to verify the ledger."""
        statement = (
            select(addresses.c.address_hash, subscriptions.c.topic_id, subscriptions.c.state)
            .join_from(subscriptions, addresses, subscriptions.c.address_id == addresses.c.id)
            .where(addresses.c.tenant_id == tenant_id)
        )
        return {
            (row.address_hash, row.topic_id): SubscriptionState(row.state)
            for row in self._connection.execute(statement)
        }


class SqlSuppressionRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def get(self, tenant_id: int, channel: Channel, address_hash: str) -> Suppression | None:
        statement = _select(suppressions, ("tenant_id", "channel", "address_hash"))
        parameters = {
            "tenant_id": tenant_id,
            "channel": channel.value,
            "address_hash": address_hash,
        }
        row = self._executor.first(statement, parameters)
        return None if row is None else _suppression_from_row(row)

    def add(self, suppression: Suppression) -> bool:
        values = {
            "tenant_id": suppression.tenant_id,
            "channel": suppression.channel.value,
            "address_hash": suppression.address_hash,
            "address_id": suppression.address_id,
            "reason": suppression.reason,
            "created_at": _to_db(suppression.created_at),
        }
        statement = _insert_new_statement(self._executor.dialect_name, suppressions)
        return self._executor.first(statement, values) is not None

    def add_many(self, tenant_id: int, rows: Sequence[ports.NewSuppression]) -> None:
        """Insert suppressions that do not exist yet; `Conflict` if one does."""
        bulk = _bulk(self._executor, suppressions, _SUPPRESSION_COLUMNS)
        times: dict[datetime, object] = {}
        values = []
        for channel, address_hash, address_id, reason, created_at in rows:
            created = times.get(created_at)
            if created is None:
                created = times[created_at] = bulk.time(created_at)
            values.append((tenant_id, channel.value, address_hash, address_id, reason, created))
        _insert_rows(self._executor, bulk, values)

    def add_each(self, suppressions: Sequence[Suppression]) -> list[bool]:
        """`add` of each, in order: on PostgreSQL in one statement
        (`_add_suppressions_sql`), on SQLite in two (`_add_each_on_sqlite`)."""
        if len(suppressions) < 2:
            return [self.add(suppression) for suppression in suppressions]
        if self._executor.dialect_name != "postgresql":
            return self._add_each_on_sqlite(suppressions)
        values = {
            "tenant_id": [row.tenant_id for row in suppressions],
            "channel": [row.channel.value for row in suppressions],
            "address_hash": [row.address_hash for row in suppressions],
            "address_id": [row.address_id for row in suppressions],
            "reason": [row.reason for row in suppressions],
            "created_at": [_to_db(row.created_at) for row in suppressions],
        }
        added = {
            (row[0], row[1], row[2])
            for row in self._executor.rows_of_driver_sql(_add_suppressions_sql(), values)
        }
        return [
            (row.tenant_id, row.channel.value, row.address_hash) in added for row in suppressions
        ]

    def _add_each_on_sqlite(self, wanted: Sequence[Suppression]) -> list[bool]:
        """`add_each` on SQLite: the existing keys read in one statement per (tenant,
        channel), the others inserted in their order in one `executemany` (the writer
        holds the write lock: nothing is added in between)."""
        hashes: dict[tuple[int, str], list[str]] = {}
        for row in wanted:
            hashes.setdefault((row.tenant_id, row.channel.value), []).append(row.address_hash)
        taken: set[tuple[int, str, str]] = set()
        for (tenant_id, channel), among in hashes.items():
            parameters = {
                "tenant_id": tenant_id,
                "channel": channel,
                "keys": _key_list("sqlite", among),
            }
            for address_hash, _ in self._executor.raw_rows(_reasons_statement(), parameters):
                taken.add((tenant_id, channel, address_hash))
        bulk = _bulk(self._executor, suppressions, _SUPPRESSION_COLUMNS)
        added: list[bool] = []
        rows: list[tuple[object, ...]] = []
        for row in wanted:
            key = (row.tenant_id, row.channel.value, row.address_hash)
            added.append(key not in taken)
            if key not in taken:
                taken.add(key)
                rows.append((*key, row.address_id, row.reason, bulk.time(row.created_at)))
        _insert_rows(self._executor, bulk, rows)
        return added

    def reasons(self, tenant_id: int, channel: Channel, hashes: Collection[str]) -> dict[str, str]:
        """hash → reason, for the hashes among `hashes` that are suppressed."""
        if self._executor.dialect_name != "postgresql":
            parameters = {
                "tenant_id": tenant_id,
                "channel": channel.value,
                "keys": _key_list("sqlite", hashes),
            }
            rows = self._executor.raw_rows(_reasons_statement(), parameters)
            return {str(address_hash): str(reason) for address_hash, reason in rows}
        statement = _probing(suppressions, "address_hash")

        def rows_of(chunk: list[str]) -> Iterable[_Row]:
            parameters = {"tenant_id": tenant_id, "channel": channel.value, "values": chunk}
            return self._connection.execute(statement, parameters)

        pairs = _collect(
            rows_of, hashes, lambda row: (str(row.address_hash), str(row.reason)), size=PROBE_CHUNK
        )
        return dict(pairs)

    def set_reason(self, tenant_id: int, channel: Channel, address_hash: str, reason: str) -> None:
        self._connection.execute(
            _update(suppressions, ("tenant_id", "channel", "address_hash")),
            {
                "where_tenant_id": tenant_id,
                "where_channel": channel.value,
                "where_address_hash": address_hash,
                "reason": reason,
            },
        )

    def remove(self, tenant_id: int, channel: Channel, address_hash: str) -> bool:
        result = self._connection.execute(
            _delete(suppressions, ("tenant_id", "channel", "address_hash")),
            {"tenant_id": tenant_id, "channel": channel.value, "address_hash": address_hash},
        )
        return result.rowcount > 0

    def suppressed(self, tenant_id: int, channel: Channel, hashes: Collection[str]) -> set[str]:
        """The hashes among `hashes` that are suppressed."""
        statement = _select_in(suppressions, "address_hash", ("tenant_id", "channel"))

        def rows_of(chunk: list[str]) -> Iterable[_Row]:
            parameters = {"tenant_id": tenant_id, "channel": channel.value, "values": chunk}
            return self._connection.execute(statement, parameters)

        return set(_collect(rows_of, hashes, lambda row: str(row.address_hash)))

    def page(
        self, tenant_id: int, *, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[Suppression, str | None]]:
        """Suppressions ordered by (channel, hash), after the (channel, hash) cursor, each
        with its address in clear, or None where the address was erased."""
        statement = (
            select(suppressions, addresses.c.value)
            .join_from(
                suppressions,
                addresses,
                suppressions.c.address_id == addresses.c.id,
                isouter=True,
            )
            .where(suppressions.c.tenant_id == tenant_id)
            .order_by(suppressions.c.channel, suppressions.c.address_hash)
            .limit(limit)
        )
        if after is not None:
            cursor = tuple_(suppressions.c.channel, suppressions.c.address_hash)
            statement = statement.where(cursor > tuple_(*after))
        return [
            (_suppression_from_row(row), row.value) for row in self._connection.execute(statement)
        ]

    def detach_addresses(self, address_ids: Collection[int]) -> None:
        """Keep the suppressions of these addresses by hash only (erasure)."""
        for chunk in _chunks(address_ids):
            self._connection.execute(
                _update_in(suppressions, "address_id"), {"where_values": chunk, "address_id": None}
            )

    def snapshot(self, tenant_id: int) -> set[tuple[Channel, str]]:
        statement = select(suppressions.c.channel, suppressions.c.address_hash).where(
            suppressions.c.tenant_id == tenant_id
        )
        return {
            (Channel(row.channel), row.address_hash) for row in self._connection.execute(statement)
        }


class SqlEventRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(self, event: ConsentEvent) -> int:
        """Append the event (its `id` is ignored); returns the new id."""
        row = self._executor.first(_insert_returning_id(consent_events), _event_values(event))
        if row is None:  # pragma: no cover - an INSERT without ON CONFLICT returns its row
            raise RuntimeError("the new event's id was not returned")
        new_id: int = row.id
        return new_id

    def add_with_notice(self, event: ConsentEvent, *, kind: str) -> int:
        """`add` and the outbox item about it: on PostgreSQL one statement
        (`_event_with_notice`), one round trip of the writer's instead of two."""
        values = _event_values(event)
        if self._executor.dialect_name != "postgresql":
            row = self._executor.first(_insert_returning_id(consent_events), values)
            if row is None:  # pragma: no cover - an INSERT without ON CONFLICT returns its row
                raise RuntimeError("the new event's id was not returned")
            event_id: int = row.id
            created = values["occurred_at"]
            notice = {
                "tenant_id": event.tenant_id,
                "kind": kind,
                "payload": _json({"event_id": event_id}),
                "created_at": created,
                "attempts": 0,
                "run_at": created,
            }
            self._executor.run(_insert(outbox), notice)
            return event_id
        row = self._executor.first(_event_with_notice(), {**values, "notice_kind": kind})
        if row is None:  # pragma: no cover - an INSERT without ON CONFLICT returns its row
            raise RuntimeError("the new event's id was not returned")
        new_id: int = row.id
        return new_id

    def add_each(self, events: Sequence[ConsentEvent], notices: Sequence[str | None]) -> list[int]:
        """`add_with_notice` (a notice kind given) or `add` (None) of each event, in
        order: on PostgreSQL in one statement (`_events_with_notices_sql`), on SQLite in
        three (`_add_each_on_sqlite`)."""
        if len(events) != len(notices):
            raise ValueError("one notice kind (or None) per event")
        if len(events) < 2:
            return [
                self.add(event) if kind is None else self.add_with_notice(event, kind=kind)
                for event, kind in zip(events, notices, strict=True)
            ]
        if self._executor.dialect_name != "postgresql":
            return self._add_each_on_sqlite(events, notices)
        rows = [_event_values(event) for event in events]
        values = _arrays(rows, _EVENT_COLUMNS[1:])
        values["notice_kind"] = list(notices)
        return [
            int(row[0])
            for row in self._executor.rows_of_driver_sql(_events_with_notices_sql(), values)
        ]

    def _add_each_on_sqlite(
        self, events: Sequence[ConsentEvent], notices: Sequence[str | None]
    ) -> list[int]:
        """`add_each` on SQLite: the events in one `executemany` with the ids SQLite would
        give them one by one (the writer holds the write lock), then their outbox rows in
        one, in the same order, so their ids ascend as they would one by one."""
        bulk = _bulk(self._executor, consent_events, _EVENT_COLUMNS)
        notice_bulk = _bulk(self._executor, outbox, _OUTBOX_COLUMNS)
        ids = _new_ids(self._executor, consent_events, len(events))
        rows: list[tuple[object, ...]] = []
        notice_rows: list[tuple[object, ...]] = []
        for event_id, event, kind in zip(ids, events, notices, strict=True):
            values = _event_values(event)
            at = bulk.time(event.occurred_at)
            values["occurred_at"] = at
            rows.append((event_id, *(values[name] for name in _EVENT_COLUMNS[1:])))
            if kind is not None:
                notice_rows.append(
                    (event.tenant_id, kind, _json({"event_id": event_id}), at, 0, at)
                )
        _insert_rows(self._executor, bulk, rows)
        _insert_rows(self._executor, notice_bulk, notice_rows)
        return ids

    def add_imported(
        self,
        *,
        tenant_id: int,
        occurred_at: datetime,
        provenance: Provenance,
        rows: Sequence[ports.ImportedEvent],
    ) -> list[int]:
        """Append one event per row, each a tuple made straight from the row (no event
        objects); returns the new ids, in order.

        Only the columns that some row of the batch sets are named (`_imported_columns`):
        the others are NULL either way, and SQLite's `executemany` of the 25-column
        INSERT took about twice the CPU of the narrow one (decision 0037)."""
        given = _provenance_values(provenance)
        shared = tuple(value for value in given.values() if value is not None)
        targeted = any(
            row.contact_id is not None or row.topic_id is not None or row.state is not None
            for row in rows
        )
        names = _imported_columns(
            targeted=targeted,
            provenance=tuple(name for name, value in given.items() if value is not None),
        )
        bulk = _bulk(self._executor, consent_events, names)
        ids = _new_ids(self._executor, consent_events, len(rows))
        at = bulk.time(occurred_at)
        values: list[tuple[object, ...]]
        if targeted:
            values = [
                (
                    event_id,
                    tenant_id,
                    at,
                    action.value,
                    outcome.value,
                    channel.value,
                    address_hash,
                    address_id,
                    contact_id,
                    topic_id,
                    None if state is None else state.value,
                    *shared,
                )
                for event_id, (
                    action,
                    outcome,
                    channel,
                    address_hash,
                    address_id,
                    contact_id,
                    topic_id,
                    state,
                ) in zip(ids, rows, strict=True)
            ]
        else:
            values = [
                (
                    event_id,
                    tenant_id,
                    at,
                    action.value,
                    outcome.value,
                    channel.value,
                    address_hash,
                    address_id,
                    *shared,
                )
                for event_id, (action, outcome, channel, address_hash, address_id, _, _, _) in zip(
                    ids, rows, strict=True
                )
            ]
        _insert_rows(self._executor, bulk, values)
        return ids

    def query(
        self, tenant_id: int, *, where: ports.EventFilter, after_id: int, limit: int
    ) -> list[ConsentEvent]:
        """Events with id > `after_id` matching `where`, oldest first, at most `limit`."""
        columns = consent_events.c
        statement = select(consent_events).where(
            columns.tenant_id == tenant_id, columns.id > after_id
        )
        if where.contact_id is not None:
            statement = statement.where(columns.contact_id == where.contact_id)
        if where.address_hash is not None:
            statement = statement.where(columns.address_hash == where.address_hash)
        if where.since is not None:
            statement = statement.where(columns.occurred_at >= _to_db(where.since))
        if where.until is not None:
            statement = statement.where(columns.occurred_at < _to_db(where.until))
        if where.via is not None:
            statement = statement.where(columns.via == where.via)
        if where.action is not None:
            statement = statement.where(columns.action == where.action.value)
        statement = statement.order_by(columns.id).limit(limit)
        return [_event_from_row(row) for row in self._connection.execute(statement)]

    def of_request(self, unsubscribe_request_id: int) -> list[ConsentEvent]:
        statement = _select(consent_events, ("unsubscribe_request_id",), ("id",))
        rows = self._connection.execute(
            statement, {"unsubscribe_request_id": unsubscribe_request_id}
        )
        return [_event_from_row(row) for row in rows]

    def scrub(self, tenant_id: int, *, address_ids: Collection[int]) -> None:
        """Remove personal data from the events of these addresses (erasure): the address
        id, actor, IP, user agent and context go; the keyed hash stays."""
        for chunk in _chunks(address_ids):
            self._connection.execute(
                update(consent_events)
                .where(
                    consent_events.c.tenant_id == tenant_id,
                    consent_events.c.address_id.in_(chunk),
                )
                .values(address_id=None, actor=None, ip=None, user_agent=None, context="{}")
            )


class SqlRequestRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(
        self,
        *,
        tenant_id: int,
        contact_id: int | None,
        address_id: int | None,
        topic_ids: Sequence[int],
        created_at: datetime,
        effective_at: datetime,
    ) -> UnsubscribeRequest:
        created, effective = _to_db(created_at), _to_db(effective_at)
        values = {
            "tenant_id": tenant_id,
            "contact_id": contact_id,
            "address_id": address_id,
            "topic_ids": _ids_text(topic_ids),
            "state": RequestState.PENDING.value,
            "created_at": created,
            "effective_at": effective,
        }
        statement = _insert_returning_id(unsubscribe_requests)
        new_id: int = self._connection.execute(statement, values).scalar_one()
        return UnsubscribeRequest(
            id=new_id,
            tenant_id=tenant_id,
            contact_id=contact_id,
            address_id=address_id,
            topic_ids=tuple(topic_ids),
            state=RequestState.PENDING,
            created_at=_from_db(created),
            effective_at=_from_db(effective),
        )

    def get(self, tenant_id: int, request_id: int) -> UnsubscribeRequest | None:
        statement = _select(unsubscribe_requests, ("tenant_id", "id"))
        parameters = {"tenant_id": tenant_id, "id": request_id}
        row = self._connection.execute(statement, parameters).first()
        return None if row is None else _request_from_row(row)

    def close(self, request_id: int, *, state: RequestState, at: datetime) -> None:
        self._connection.execute(
            _update(unsubscribe_requests, ("id",)),
            {"where_id": request_id, "state": state.value, "closed_at": _to_db(at)},
        )

    def due(self, *, at: datetime, limit: int) -> list[UnsubscribeRequest]:
        """Pending requests of every tenant whose effective time is at or before `at`."""
        statement = (
            select(unsubscribe_requests)
            .where(
                unsubscribe_requests.c.state == RequestState.PENDING.value,
                unsubscribe_requests.c.effective_at <= _to_db(at),
            )
            .order_by(unsubscribe_requests.c.effective_at, unsubscribe_requests.c.id)
            .limit(limit)
        )
        return [_request_from_row(row) for row in self._connection.execute(statement)]

    def of_contact(self, tenant_id: int, contact_id: int) -> list[UnsubscribeRequest]:
        statement = _select(unsubscribe_requests, ("tenant_id", "contact_id"), ("id",))
        parameters = {"tenant_id": tenant_id, "contact_id": contact_id}
        return [_request_from_row(row) for row in self._connection.execute(statement, parameters)]

    def snapshot(self, tenant_id: int) -> dict[int, RequestState]:
        statement = _select(unsubscribe_requests, ("tenant_id",))
        rows = self._connection.execute(statement, {"tenant_id": tenant_id})
        return {row.id: RequestState(row.state) for row in rows}


class SqlMessageRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(
        self,
        *,
        tenant_id: int,
        message_uid: str,
        address_id: int,
        topic_id: int,
        campaign: str | None,
        created_at: datetime,
    ) -> Message:
        created = _to_db(created_at)
        values = {
            "tenant_id": tenant_id,
            "message_uid": message_uid,
            "address_id": address_id,
            "topic_id": topic_id,
            "campaign": campaign,
            "created_at": created,
        }
        row = _insert_new(
            self._executor, messages, values, conflict="a message with this uid already exists"
        )
        return Message(
            id=row.id,
            tenant_id=tenant_id,
            message_uid=message_uid,
            address_id=address_id,
            topic_id=topic_id,
            campaign=campaign,
            created_at=_from_db(created),
        )

    def get(self, tenant_id: int, message_id: int) -> Message | None:
        statement = _select(messages, ("tenant_id", "id"))
        parameters = {"tenant_id": tenant_id, "id": message_id}
        row = self._executor.first(statement, parameters)
        return None if row is None else _message_from_row(row)

    def get_each(self, keys: Sequence[tuple[int, int]]) -> list[Message | None]:
        """`get` of each (tenant id, message id), in order: on PostgreSQL in one statement
        by id (a message of another tenant is None, as `get` answers), on SQLite one by
        one."""
        if self._executor.dialect_name != "postgresql" or len(keys) < 2:
            return [self.get(tenant_id, message_id) for tenant_id, message_id in keys]
        return _owned_by_id(self._connection, messages, keys, _message_from_row)

    def by_uid(self, tenant_id: int, message_uid: str) -> Message | None:
        statement = _select(messages, ("tenant_id", "message_uid"))
        parameters = {"tenant_id": tenant_id, "message_uid": message_uid}
        row = self._connection.execute(statement, parameters).first()
        return None if row is None else _message_from_row(row)

    def of_addresses(self, address_ids: Collection[int]) -> list[Message]:
        statement = _select_in(messages, "address_id", (), ("id",))

        def rows_of(chunk: list[int]) -> Iterable[_Row]:
            return self._connection.execute(statement, {"values": chunk})

        return _collect(rows_of, address_ids, _message_from_row)

    def delete_of_addresses(self, address_ids: Collection[int]) -> None:
        for chunk in _chunks(address_ids):
            self._connection.execute(_delete_in(messages, "address_id"), {"values": chunk})


class SqlConfirmationRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(self, confirmation: Confirmation) -> None:
        """Add the confirmation; `Conflict` if its token hash is taken."""
        values = {
            "token_hash": confirmation.token_hash,
            "tenant_id": confirmation.tenant_id,
            "address_id": confirmation.address_id,
            "topic_id": confirmation.topic_id,
            "created_at": _to_db(confirmation.created_at),
            "expires_at": _to_db(confirmation.expires_at),
            "confirmed_at": _to_db_or_none(confirmation.confirmed_at),
        }
        _insert_new(
            self._executor,
            confirmations,
            values,
            conflict="a confirmation with this token already exists",
        )

    def by_hash(self, token_hash: str) -> Confirmation | None:
        statement = _select(confirmations, ("token_hash",))
        row = self._connection.execute(statement, {"token_hash": token_hash}).first()
        return None if row is None else _confirmation_from_row(row)

    def mark_confirmed(self, token_hash: str, *, at: datetime) -> None:
        self._connection.execute(
            _update(confirmations, ("token_hash",)),
            {"where_token_hash": token_hash, "confirmed_at": _to_db(at)},
        )

    def delete_of_addresses(self, address_ids: Collection[int]) -> None:
        for chunk in _chunks(address_ids):
            self._connection.execute(_delete_in(confirmations, "address_id"), {"values": chunk})


class SqlOutboxRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def add(self, item: OutboxItem) -> None:
        """Queue the item to run at once (`run_at` = `created_at`), with no attempts yet."""
        created = _to_db(item.created_at)
        self._executor.run(
            _insert(outbox),
            {
                "tenant_id": item.tenant_id,
                "kind": item.kind,
                "payload": _json(dict(item.payload)),
                "created_at": created,
                "attempts": 0,
                "run_at": created,
            },
        )


class SqlIdempotencyRepository:
    """Responses kept for idempotency keys; the write is one upsert on the cursor."""

    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def get(self, tenant_id: int, api_key_id: int, key: str) -> ports.IdempotencyRecord | None:
        statement = _select(idempotency_keys, ("tenant_id", "api_key_id", "key"))
        values = {"tenant_id": tenant_id, "api_key_id": api_key_id, "key": key}
        row = self._executor.first(statement, values)
        return None if row is None else _idempotency_record_from_row(row)

    def put(self, record: ports.IdempotencyRecord, *, replace_before: datetime) -> bool:
        """Insert the record, replacing an expired one (created before `replace_before`);
        False, and the live record kept, if (tenant, API key, key) has one."""
        values = {
            "tenant_id": record.tenant_id,
            "api_key_id": record.api_key_id,
            "key": record.key,
            "sealed": record.sealed,
            "created_at": _to_db(record.created_at),
            "replace_before": _to_db(replace_before),
        }
        statement = _upsert_idempotency(self._executor.dialect_name)
        return self._executor.first(statement, values) is not None

    def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        """Delete at most `limit` records created before `cutoff`, oldest first."""
        columns = idempotency_keys.c
        oldest = (
            select(columns.tenant_id, columns.api_key_id, columns.key)
            .where(columns.created_at < _to_db(cutoff))
            .order_by(columns.created_at)
            .limit(limit)
        )
        statement = delete(idempotency_keys).where(
            tuple_(columns.tenant_id, columns.api_key_id, columns.key).in_(oldest)
        )
        deleted: int = self._connection.execute(statement).rowcount
        return deleted


class SqlImportRunRepository:
    """The progress of suppression imports: one row per run, a few statements per batch."""

    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def open(self, *, tenant_id: int, digest: str, rows: int, at: datetime) -> ports.ImportRun:
        """The unfinished run of (tenant, digest), else a new one. The insert skips a clash
        on (tenant, pending digest), so a concurrent opener finds the other's run."""
        moment = _to_db(at)
        values = {
            "tenant_id": tenant_id,
            "digest": digest,
            "pending_digest": digest,
            "rows": rows,
            "applied": 0,
            "changed": 0,
            "repeated": 0,
            "created_at": moment,
            "updated_at": moment,
            "finished_at": None,
        }
        insert_new = _insert_new_statement(self._executor.dialect_name, import_runs)
        find = _select(import_runs, ("tenant_id", "pending_digest"))
        while True:
            self._executor.first(insert_new, values)
            row = self._executor.first(find, {"tenant_id": tenant_id, "pending_digest": digest})
            if row is not None:
                return _import_run_from_row(row)
            # Only on PostgreSQL: another transaction finished that run between the two.

    def get(self, tenant_id: int, run_id: int) -> ports.ImportRun | None:
        statement = _select(import_runs, ("tenant_id", "id"))
        row = self._executor.first(statement, {"tenant_id": tenant_id, "id": run_id})
        return None if row is None else _import_run_from_row(row)

    def advance(self, run_id: int, *, applied: int, to: int, finished: bool, at: datetime) -> bool:
        columns = import_runs.c
        moment = _to_db(at)
        values: dict[str, object] = {"applied": to, "updated_at": moment}
        if finished:
            values |= {"finished_at": moment, "pending_digest": None}
        statement = (
            update(import_runs)
            .where(columns.id == run_id, columns.applied == applied, columns.finished_at.is_(None))
            .values(values)
        )
        updated: int = self._connection.execute(statement).rowcount
        return updated == 1

    def add_outcomes(self, run_id: int, *, changed: int, repeated: int) -> None:
        columns = import_runs.c
        statement = (
            update(import_runs)
            .where(columns.id == run_id)
            .values(changed=columns.changed + changed, repeated=columns.repeated + repeated)
        )
        self._connection.execute(statement)


class SqlCheckRepository:
    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._executor = executor or CursorExecutor(connection)

    def consents(
        self, queries: Sequence[ports.ConsentQuery]
    ) -> list[tuple[SubscriptionState | None, bool]]:
        if len(queries) > 1 and self._executor.dialect_name == "postgresql":
            return self._consents_together(queries)
        parameter_sets = [
            {
                "tenant_id": query.tenant_id,
                "channel": query.channel.value,
                "value_digest": query.address_hash,
                "value": query.value,
                "address_hash": query.address_hash,
                "topic_id": query.topic_id,
            }
            for query in queries
        ]
        answers = []
        for row in self._executor.first_of_each(_consent_statement(), parameter_sets):
            assert row is not None  # a SELECT without FROM returns one row
            answers.append(
                (None if row.state is None else SubscriptionState(row.state), bool(row.suppressed))
            )
        return answers

    def warm_up(self) -> None:
        """`consents` of a query that matches no row, in every size that has a statement
        of its own (one query; on PostgreSQL 2, 4, … `CONSENTS_TOGETHER`), as often as
        psycopg runs a statement before it prepares it (decision 0039)."""
        sizes = [1]
        if self._executor.dialect_name == "postgresql":
            sizes += [1 << n for n in range(1, CONSENTS_TOGETHER.bit_length())]
        nothing = ports.ConsentQuery(
            tenant_id=0, channel=Channel.EMAIL, value="", address_hash="", topic_id=0
        )
        for size in sizes:
            for _ in range(_runs_to_prepare(self._connection)):
                self.consents([nothing] * size)

    def _consents_together(
        self, queries: Sequence[ports.ConsentQuery]
    ) -> list[tuple[SubscriptionState | None, bool]]:
        """`consents` on PostgreSQL in one statement a `CONSENTS_TOGETHER` queries (each
        the consent statement's two look-ups, for each row of a VALUES list), padded to a
        power of two with the last query so that a handful of statements, each prepared
        with a generic plan, serve every batch (decision 0034)."""
        answers: list[tuple[SubscriptionState | None, bool]] = []
        for start in range(0, len(queries), CONSENTS_TOGETHER):
            some = queries[start : start + CONSENTS_TOGETHER]
            size = max(2, 1 << (len(some) - 1).bit_length())
            parameters: dict[str, object] = {}
            padded = [*some, *([some[-1]] * (size - len(some)))]
            for names, query in zip(_consent_rows_names(size), padded, strict=True):
                tenant_id, channel, address_hash, value, topic_id = names
                parameters[tenant_id] = query.tenant_id
                parameters[channel] = query.channel.value
                parameters[address_hash] = query.address_hash
                parameters[value] = query.value
                parameters[topic_id] = query.topic_id
            rows = self._executor.raw_rows(_consents_together_statement(size), parameters)
            answers.extend(
                (None if state is None else SubscriptionState(state), bool(suppressed))
                for state, suppressed in rows[: len(some)]
            )
        return answers

    def suppressed_among(
        self, *, tenant_id: int, channel: Channel, hashes: Collection[str]
    ) -> set[str]:
        dialect = self._executor.dialect_name
        parameters = {
            "tenant_id": tenant_id,
            "channel": channel.value,
            "keys": _key_list(dialect, hashes),
        }
        return set(self._executor.column(_suppressed_among_statement(dialect), parameters))

    def all_suppressed(
        self, *, tenant_id: int, channel: Channel, limit: int
    ) -> ports.SuppressedSet | None:
        parameters = {
            "tenant_id": tenant_id,
            "channel": channel.value,
            "limit": limit + 1,
            "separator": _LINE,
        }
        statement = _all_suppressed_statement(self._executor.dialect_name)
        (count, values, hashes), *_ = self._executor.raw_rows(statement, parameters)
        if count > limit:
            return None
        return ports.SuppressedSet(
            values=values or "", hashes=set(hashes.split(_LINE)) if hashes else set()
        )

    def all_states(
        self, *, tenant_id: int, channel: Channel, topic_id: int, limit: int
    ) -> dict[str, SubscriptionState] | None:
        parameters = {
            "tenant_id": tenant_id,
            "channel": channel.value,
            "topic_id": topic_id,
            "limit": limit + 1,
        }
        rows = self._executor.all(_all_states_statement(), parameters)
        return None if len(rows) > limit else {v: SubscriptionState(s) for v, s in rows}

    def states_among(
        self, *, tenant_id: int, channel: Channel, topic_id: int, values: Mapping[str, str]
    ) -> dict[str, SubscriptionState]:
        dialect = self._executor.dialect_name
        parameters = {
            "tenant_id": tenant_id,
            "channel": channel.value,
            "topic_id": topic_id,
            "keys": _key_list(dialect, list(values.values())),
        }
        rows = self._executor.all(_states_among_statement(dialect), parameters)
        # A hash names one value; comparing the value as well keeps that an assumption.
        return {value: SubscriptionState(state) for value, state in rows if value in values}


def _key_list(dialect_name: str, keys: Collection[str]) -> object:
    """`keys` as the one parameter `_among` takes: a JSON array for SQLite's json_each, a
    list (bound as a text[] array) for PostgreSQL."""
    return list(keys) if dialect_name == "postgresql" else json.dumps(list(keys))


def _among(dialect_name: str, column: ColumnElement[str]) -> ColumnElement[bool]:
    """`column` is one of the values of the "keys" parameter: one bound value however many
    keys, so a batch of thousands is one statement with no IN list to expand."""
    if dialect_name == "postgresql":
        return column == any_(bindparam("keys", type_=postgresql.ARRAY(String)))
    keys = func.json_each(bindparam("keys", type_=String)).table_valued("value")
    return column.in_(select(keys.c.value))


@cache
def _suppressed_among_statement(dialect_name: str) -> Select[str]:
    return select(suppressions.c.address_hash).where(
        suppressions.c.tenant_id == bindparam("tenant_id"),
        suppressions.c.channel == bindparam("channel"),
        _among(dialect_name, suppressions.c.address_hash),
    )


_LINE: Final = "\n"
"""What `_all_suppressed_statement` puts between two values (or hashes)."""


@cache
def _all_suppressed_statement(dialect_name: str) -> Select[int, str | None, str | None]:
    """One row: how many suppressions (up to the "limit" parameter), the values of their
    addresses where the database still holds them, and the keyed hashes of the rest, each
    joined by the "separator" parameter (NULL where none). An address row counts only
    with the suppression's own hash, so a value is given exactly when its hash is
    suppressed; a value that holds the separator is given by its hash instead.

    Joined in the database, one row instead of one each (hundreds of thousands, a Python
    tuple and string each); on SQLite read through the index that holds each
    suppression's address id and hash in address order: no suppression row is visited,
    and the addresses are visited in the order they are stored (decision 0028)."""
    separator = bindparam("separator", type_=String)
    kept = and_(addresses.c.id.is_not(None), ~addresses.c.value.contains(separator))
    each = (
        select(
            case((kept, addresses.c.value)).label("value"),
            case((kept, None), else_=suppressions.c.address_hash).label("address_hash"),
        )
        .join_from(
            suppressions,
            addresses,
            and_(
                addresses.c.id == suppressions.c.address_id,
                addresses.c.address_hash == suppressions.c.address_hash,
            ),
            isouter=True,
        )
        .where(
            suppressions.c.tenant_id == bindparam("tenant_id"),
            suppressions.c.channel == bindparam("channel"),
        )
        .limit(bindparam("limit", type_=Integer))
        .subquery()
    )
    joined = func.string_agg if dialect_name == "postgresql" else func.group_concat
    return select(
        func.count().label("count"),
        joined(each.c.value, separator).label("values"),
        joined(each.c.address_hash, separator).label("hashes"),
    )


@cache
def _all_states_statement() -> Select[str, str]:
    return (
        select(addresses.c.value, subscriptions.c.state)
        .join_from(addresses, subscriptions, subscriptions.c.address_id == addresses.c.id)
        .where(
            addresses.c.tenant_id == bindparam("tenant_id"),
            addresses.c.channel == bindparam("channel"),
            subscriptions.c.topic_id == bindparam("topic_id"),
        )
        .limit(bindparam("limit", type_=Integer))
    )


@cache
def _states_among_statement(dialect_name: str) -> Select[str, str]:
    return (
        select(addresses.c.value, subscriptions.c.state)
        .join_from(addresses, subscriptions, subscriptions.c.address_id == addresses.c.id)
        .where(
            addresses.c.tenant_id == bindparam("tenant_id"),
            addresses.c.channel == bindparam("channel"),
            _among(dialect_name, addresses.c.value_digest),
            subscriptions.c.topic_id == bindparam("topic_id"),
        )
    )


@cache
def _consent_statement() -> Select[*tuple[Any, ...]]:
    """One row: the address's state for the topic (NULL if none) and whether its hash is
    suppressed. Both look-ups go through primary or unique keys."""
    state = (
        select(subscriptions.c.state)
        .join(addresses, addresses.c.id == subscriptions.c.address_id)
        .where(
            addresses.c.tenant_id == bindparam("tenant_id"),
            addresses.c.channel == bindparam("channel"),
            addresses.c.value_digest == bindparam("value_digest"),
            addresses.c.value == bindparam("value"),
            subscriptions.c.topic_id == bindparam("topic_id"),
        )
        .scalar_subquery()
    )
    suppressed = (
        select(suppressions.c.address_hash)
        .where(
            suppressions.c.tenant_id == bindparam("tenant_id"),
            suppressions.c.channel == bindparam("channel"),
            suppressions.c.address_hash == bindparam("address_hash"),
        )
        .exists()
    )
    return select(state.label("state"), suppressed.label("suppressed"))


def _runs_to_prepare(connection: Connection) -> int:
    """How often a statement is run on `connection` before the server has it prepared:
    once past psycopg's `prepare_threshold`; once where nothing is prepared (SQLite, or
    psycopg with preparing switched off)."""
    driver: Any = connection.connection.driver_connection
    threshold = getattr(driver, "prepare_threshold", None)
    return 1 if threshold is None else threshold + 1


CONSENTS_TOGETHER: Final = 32
"""The most single checks one PostgreSQL statement answers (`_consents_together_statement`):
a batch of more takes a statement each 32, one after the other."""


@cache
def _consent_rows_names(size: int) -> tuple[tuple[str, str, str, str, str], ...]:
    """The parameter names of each row of `_consents_together_statement(size)`."""
    return tuple(
        (f"tenant_id_{n}", f"channel_{n}", f"address_hash_{n}", f"value_{n}", f"topic_id_{n}")
        for n in range(size)
    )


@cache
def _consents_together_statement(size: int) -> Select[Any, bool]:
    """`_consent_statement` for `size` queries in one statement (PostgreSQL): a row each
    of the parameters' VALUES list, in its order, with its state and whether its hash is
    suppressed, both looked up as the one-query statement does.

    One statement, not `size` pipelined (each its own parse, bind and execute, on the
    server and in psycopg): measured on this machine, 6 queries 138 µs against 576 µs
    pipelined, 16 queries 403 µs against 1,072 µs. The VALUES list has exactly `size`
    rows, so the planner's row estimates are the same with and without the values, and
    after psycopg has prepared it (its fifth run) PostgreSQL keeps one generic plan;
    a statement over arrays (`unnest`) is planned again at every run (about 300 µs), as
    the array's length changes the custom plan's estimate."""
    query = values(
        column("n", Integer),
        column("tenant_id", Integer),
        column("channel", String),
        column("address_hash", String),
        column("value", String),
        column("topic_id", Integer),
        name="query",
    ).data(
        [
            (
                literal_column(str(n), Integer),
                bindparam(tenant_id, type_=Integer),
                bindparam(channel, type_=String),
                bindparam(address_hash, type_=String),
                bindparam(value, type_=String),
                bindparam(topic_id, type_=Integer),
            )
            for n, (tenant_id, channel, address_hash, value, topic_id) in enumerate(
                _consent_rows_names(size)
            )
        ]
    )
    state = (
        select(subscriptions.c.state)
        .join(addresses, addresses.c.id == subscriptions.c.address_id)
        .where(
            addresses.c.tenant_id == query.c.tenant_id,
            addresses.c.channel == query.c.channel,
            addresses.c.value_digest == query.c.address_hash,
            addresses.c.value == query.c.value,
            subscriptions.c.topic_id == query.c.topic_id,
        )
        .correlate(query)
        .scalar_subquery()
    )
    suppressed = (
        select(suppressions.c.address_hash)
        .where(
            suppressions.c.tenant_id == query.c.tenant_id,
            suppressions.c.channel == query.c.channel,
            suppressions.c.address_hash == query.c.address_hash,
        )
        .correlate(query)
        .exists()
    )
    return (
        select(state.label("state"), suppressed.label("suppressed"))
        .select_from(query)
        .order_by(query.c.n)
    )


class SqlUnitOfWork:
    """The repositories of one transaction, all on one connection (see `ports.UnitOfWork`).

    They share one `CursorExecutor` (`executor`, or a new one) for the hot statements, and
    each is made when first used: most units of work touch two or three of them.
    """

    def __init__(self, connection: Connection, executor: CursorExecutor | None = None) -> None:
        self._connection = connection
        self._run = executor or CursorExecutor(connection)

    @cached_property
    def tenants(self) -> ports.TenantRepository:
        return SqlTenantRepository(self._connection, self._run)

    @cached_property
    def api_keys(self) -> ports.ApiKeyRepository:
        return SqlApiKeyRepository(self._connection, self._run)

    @cached_property
    def topics(self) -> ports.TopicRepository:
        return SqlTopicRepository(self._connection, self._run)

    @cached_property
    def contacts(self) -> ports.ContactRepository:
        return SqlContactRepository(self._connection, self._run)

    @cached_property
    def addresses(self) -> ports.AddressRepository:
        return SqlAddressRepository(self._connection, self._run)

    @cached_property
    def subscriptions(self) -> ports.SubscriptionRepository:
        return SqlSubscriptionRepository(self._connection, self._run)

    @cached_property
    def suppressions(self) -> ports.SuppressionRepository:
        return SqlSuppressionRepository(self._connection, self._run)

    @cached_property
    def events(self) -> ports.EventRepository:
        return SqlEventRepository(self._connection, self._run)

    @cached_property
    def requests(self) -> ports.RequestRepository:
        return SqlRequestRepository(self._connection, self._run)

    @cached_property
    def messages(self) -> ports.MessageRepository:
        return SqlMessageRepository(self._connection, self._run)

    @cached_property
    def confirmations(self) -> ports.ConfirmationRepository:
        return SqlConfirmationRepository(self._connection, self._run)

    @cached_property
    def outbox(self) -> ports.OutboxRepository:
        return SqlOutboxRepository(self._connection, self._run)

    @cached_property
    def idempotency(self) -> ports.IdempotencyRepository:
        return SqlIdempotencyRepository(self._connection, self._run)

    @cached_property
    def import_runs(self) -> ports.ImportRunRepository:
        return SqlImportRunRepository(self._connection, self._run)

    @cached_property
    def checks(self) -> ports.CheckRepository:
        return SqlCheckRepository(self._connection, self._run)
