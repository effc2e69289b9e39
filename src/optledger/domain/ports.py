"""Ports: what the services need from the outside world, as typing.Protocols.

`storage` implements the repositories, the unit of work and `Transactions`; `outbound`
implements the clock, the link keyring, the response sealer and the spools (temporary
files). Repositories only read and add; they never commit. Every method that takes a
tenant id confines itself to that tenant.
"""

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol, TypeVar

from optledger.domain.channels import Channel
from optledger.domain.links import LinkClaims
from optledger.domain.model import (
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

__all__ = [
    "AddressRepository",
    "AddressToFind",
    "ApiKeyRepository",
    "Clock",
    "CombinedWorks",
    "Completion",
    "ConfirmationRepository",
    "ConsentQuery",
    "ContactRepository",
    "EventFilter",
    "EventRepository",
    "IdempotencyRecord",
    "IdempotencyRepository",
    "ImportRun",
    "ImportRunRepository",
    "ImportedEvent",
    "LinkKeyring",
    "MessageRepository",
    "NewSuppression",
    "OutboxRepository",
    "RequestRepository",
    "ResponseSealer",
    "Spool",
    "Spools",
    "SubscriptionRepository",
    "SuppressedSet",
    "SuppressionRepository",
    "TenantRepository",
    "TopicRepository",
    "Transactions",
    "UnitOfWork",
]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Completion(Protocol[T_contra]):
    """Where a queued write reports its outcome, once, from the writer's thread: a
    `concurrent.futures.Future`, or a door's own that wakes its event loop directly
    (a thread's future awaited through `asyncio.wrap_future` costs two futures, a lock
    and three callbacks per write)."""

    def set_result(self, result: T_contra, /) -> None: ...
    def set_exception(self, exception: BaseException, /) -> None: ...
    def done(self) -> bool:
        """Whether an outcome was reported already."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class LinkKeyring(Protocol):
    def seal(self, claims: LinkClaims) -> str:
        """An opaque, URL-safe token that only this keyring can open."""
        ...

    def open(self, token: str) -> LinkClaims:
        """The claims sealed in `token`; InvalidLinkToken for anything else."""
        ...


class ResponseSealer(Protocol):
    """Encrypts the responses kept for idempotency keys so that only the credential that
    made a request can ever read its response again (see `optledger.services.idempotency`).
    """

    def seal(self, plaintext: bytes, *, credential: str, associated_data: bytes) -> bytes:
        """`plaintext` encrypted and authenticated under a key derived from `credential`
        (an API key's secret, which the server never stores), bound to `associated_data`."""
        ...

    def open(self, sealed: bytes, *, credential: str, associated_data: bytes) -> bytes | None:
        """The plaintext of `sealed`; None if it was sealed under another credential or
        associated data, or has been altered."""
        ...


class Spool(Protocol):
    """Records written once, in order, then read back in that order, as often as needed;
    kept outside memory, so an import of any size costs bounded memory."""

    def append(self, record: str) -> None:
        """Add one record (a line of text without a line break)."""
        ...

    def replay(self) -> Iterator[str]:
        """Every record appended so far, from the first; appending ends once this is called."""
        ...


class Spools(Protocol):
    def open(self) -> AbstractContextManager[Spool]:
        """A new, empty spool, private to the caller and gone when the block ends (or the
        process dies)."""
        ...


class TenantRepository(Protocol):
    def add(
        self,
        *,
        name: str,
        default_region: str,
        default_locale: str,
        grace_period: timedelta,
        created_at: datetime,
    ) -> Tenant: ...
    def get(self, tenant_id: int) -> Tenant | None: ...
    def by_name(self, name: str) -> Tenant | None: ...
    def all(self) -> list[Tenant]: ...
    def set_pages(self, tenant_id: int, pages: PageSettings) -> None: ...


class ApiKeyRepository(Protocol):
    def add(
        self,
        *,
        tenant_id: int,
        name: str,
        prefix: str,
        key_hash: str,
        scope: Scope,
        created_at: datetime,
    ) -> ApiKey: ...
    def get(self, tenant_id: int, key_id: int) -> ApiKey | None: ...
    def by_hash(self, key_hash: str) -> ApiKey | None: ...
    def of_tenant(self, tenant_id: int) -> list[ApiKey]: ...
    def revoke(self, key_id: int, *, at: datetime) -> None: ...


class TopicRepository(Protocol):
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
    ) -> Topic: ...
    def get(self, tenant_id: int, topic_id: int) -> Topic | None: ...
    def by_key(self, tenant_id: int, key: str) -> Topic | None: ...
    def of_tenant(self, tenant_id: int) -> list[Topic]: ...


class ContactRepository(Protocol):
    def add(
        self, *, tenant_id: int, external_id: str, locale: str | None, created_at: datetime
    ) -> Contact: ...
    def get(self, tenant_id: int, contact_id: int) -> Contact | None: ...
    def by_external_id(self, tenant_id: int, external_id: str) -> Contact | None: ...
    def set_locale(self, contact_id: int, locale: str) -> None: ...
    def mark_erased(self, contact_id: int, *, at: datetime) -> None:
        """Forget the external id and locale; keep the row so events still point at it."""
        ...


class AddressRepository(Protocol):
    def add(
        self,
        *,
        tenant_id: int,
        channel: Channel,
        value: str,
        address_hash: str,
        contact_id: int | None,
        created_at: datetime,
    ) -> Address: ...
    def add_many(
        self, *, tenant_id: int, keys: Sequence[tuple[Channel, str, str]], created_at: datetime
    ) -> list[int]:
        """Add new addresses without a contact, from (channel, value, hash) each, in one go
        (imports); their ids, in order. `Conflict` if one exists already."""
        ...

    def get(self, tenant_id: int, address_id: int) -> Address | None: ...
    def get_each(self, keys: Sequence[tuple[int, int]]) -> list[Address | None]:
        """`get` of each (tenant id, address id), in order, as one statement where the
        database has round trips."""
        ...

    def find(
        self, tenant_id: int, channel: Channel, value: str, address_hash: str
    ) -> Address | None:
        """The address `value`, found by its hash (the unique key, decision 0026)."""
        ...

    def find_many(
        self, tenant_id: int, channel: Channel, values: Mapping[str, str]
    ) -> dict[str, Address]:
        """The known addresses among `values` (value → its hash), keyed by value."""
        ...

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
        """The address `value` as `find` finds it, or else a new one (with `contact_id`).
        An address another process adds at the same moment is the one returned; if it
        cannot be found even then, `Conflict`."""
        ...

    def find_or_add_each(self, keys: Sequence["AddressToFind"]) -> list[Address]:
        """`find_or_add` (without a contact) of each key, in order, as one statement
        where the database has round trips: the keys must name different addresses."""
        ...

    def of_contact(self, tenant_id: int, contact_id: int) -> list[Address]: ...
    def attach(self, address_id: int, *, contact_id: int) -> None: ...
    def delete(self, address_ids: Collection[int]) -> None: ...


class SubscriptionRepository(Protocol):
    def get(self, address_id: int, topic_id: int) -> Subscription | None: ...
    def get_each(self, keys: Sequence[tuple[int, int]]) -> list[Subscription | None]:
        """`get` of each (address id, topic id), in order, as one statement where the
        database has round trips."""
        ...

    def put(self, subscription: Subscription) -> None:
        """Insert or replace the row for (address, topic)."""
        ...

    def put_many(self, rows: Sequence[Subscription]) -> None:
        """`put` each row (at most one per (address, topic)) in one go (imports)."""
        ...

    def remove(self, address_id: int, topic_id: int) -> None: ...
    def states(self, topic_id: int, address_ids: Collection[int]) -> dict[int, SubscriptionState]:
        """address id → state, for the addresses among `address_ids` that have a row."""
        ...

    def of_addresses(self, address_ids: Collection[int]) -> list[Subscription]: ...
    def delete_of_addresses(self, address_ids: Collection[int]) -> None: ...
    def snapshot(self, tenant_id: int) -> dict[tuple[str, int], SubscriptionState]:
        """(address hash, topic id) → state for the whole tenant, to verify the ledger."""
        ...


@dataclass(frozen=True, slots=True)
class SuppressedSet:
    """A channel's every suppression, for a long list check: the values of the suppressed
    addresses the database still holds (a list compares them without hashing), and the
    keyed hashes of the rest (erased addresses, suppressions imported for addresses never
    stored), which only a hash of a line can match."""

    values: str
    """The values, one a line: no value holds a newline (one that did would be among the
    hashes), and hundreds of thousands of them are read, and split in columns, without a
    Python object each."""
    hashes: set[str]


@dataclass(frozen=True, slots=True)
class ConsentQuery:
    """What one may-send check asks of the database: the state of the address `value` to
    the topic, and whether `address_hash` is suppressed on the channel."""

    tenant_id: int
    channel: Channel
    value: str
    address_hash: str
    topic_id: int


class CheckRepository(Protocol):
    """What may-send checks read: single checks in one statement each (the hot read
    path), a list check's batches in one statement per batch."""

    def consents(
        self, queries: Sequence[ConsentQuery]
    ) -> list[tuple[SubscriptionState | None, bool]]:
        """For each query, in order: the subscription state of its address to its topic
        (None if it has none) and whether its hash is suppressed. One statement each, and
        every statement sent before the first answer is read (one round trip for all on
        PostgreSQL): the single checks that arrive together are answered together."""
        ...

    def warm_up(self) -> None:
        """Run each statement `consents` may run, for a query that matches no row, until
        it is compiled and, where the driver prepares statements on the server, prepared
        on this connection: work a process's first checks would otherwise do while the
        requests behind them wait. Reads nothing it keeps."""
        ...

    def suppressed_among(
        self, *, tenant_id: int, channel: Channel, hashes: Collection[str]
    ) -> set[str]:
        """The hashes among `hashes` that are suppressed on the channel, in one statement
        however many there are (a list check's batch)."""
        ...

    def all_suppressed(
        self, *, tenant_id: int, channel: Channel, limit: int
    ) -> SuppressedSet | None:
        """Every suppression on the channel, or None if there are more than `limit`."""
        ...

    def all_states(
        self, *, tenant_id: int, channel: Channel, topic_id: int, limit: int
    ) -> dict[str, SubscriptionState] | None:
        """Address value → state for the topic, of every address on the channel that has
        one, or None if there are more than `limit`."""
        ...

    def states_among(
        self, *, tenant_id: int, channel: Channel, topic_id: int, values: Mapping[str, str]
    ) -> dict[str, SubscriptionState]:
        """Address value → its state for the topic, for the addresses among `values`
        (value → its hash) that have one, in one statement however many there are."""
        ...


class AddressToFind(NamedTuple):
    """One address of `AddressRepository.find_or_add_each`: found, or added without a
    contact at `created_at`."""

    tenant_id: int
    channel: Channel
    value: str
    address_hash: str
    created_at: datetime


class NewSuppression(NamedTuple):
    """A suppression an import adds (a plain tuple: a batch adds thousands of them, and
    each costs its writer no more than the values)."""

    channel: Channel
    address_hash: str
    address_id: int
    reason: str
    created_at: datetime


class ImportedEvent(NamedTuple):
    """What one imported row's ledger event holds beyond its batch's tenant, time and
    provenance (`EventRepository.add_imported`); a plain tuple, as `NewSuppression`."""

    action: Action
    outcome: Outcome
    channel: Channel
    address_hash: str
    address_id: int
    contact_id: int | None
    topic_id: int | None
    """None for a suppression (every topic)."""
    state: SubscriptionState | None


class SuppressionRepository(Protocol):
    def get(self, tenant_id: int, channel: Channel, address_hash: str) -> Suppression | None: ...
    def add(self, suppression: Suppression) -> bool:
        """Suppress the address; False (and the existing suppression kept) if it was
        suppressed already. One statement: the hot path of every opt-out."""
        ...

    def add_many(self, tenant_id: int, rows: Sequence[NewSuppression]) -> None:
        """Add suppressions that do not exist yet, in one go (imports); `Conflict` if one
        does."""
        ...

    def add_each(self, suppressions: Sequence[Suppression]) -> list[bool]:
        """`add` of each, in order, as one statement where the database has round trips:
        whether each was added. The suppressions must be of different addresses."""
        ...

    def reasons(self, tenant_id: int, channel: Channel, hashes: Collection[str]) -> dict[str, str]:
        """hash → reason of the suppressed hashes among `hashes`."""
        ...

    def set_reason(self, tenant_id: int, channel: Channel, address_hash: str, reason: str) -> None:
        """Replace the reason of an existing suppression (its `created_at` stays)."""
        ...

    def remove(self, tenant_id: int, channel: Channel, address_hash: str) -> bool:
        """Lift the suppression; False if there was none."""
        ...

    def suppressed(self, tenant_id: int, channel: Channel, hashes: Collection[str]) -> set[str]:
        """The hashes among `hashes` that are suppressed."""
        ...

    def page(
        self, tenant_id: int, *, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[Suppression, str | None]]:
        """Suppressions ordered by (channel, hash), after the (channel, hash) cursor, each
        with its address in clear, or None where the address was erased."""
        ...

    def detach_addresses(self, address_ids: Collection[int]) -> None:
        """Keep the suppressions of these addresses by hash only (erasure)."""
        ...

    def snapshot(self, tenant_id: int) -> set[tuple[Channel, str]]: ...


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events `EventRepository.query` returns; None matches anything."""

    contact_id: int | None = None
    address_hash: str | None = None
    since: datetime | None = None
    """Inclusive lower bound on `occurred_at`."""
    until: datetime | None = None
    """Exclusive upper bound on `occurred_at`."""
    via: str | None = None
    action: Action | None = None


class EventRepository(Protocol):
    def add(self, event: ConsentEvent) -> int:
        """Append the event; returns its id, increasing in insertion order."""
        ...

    def add_with_notice(self, event: ConsentEvent, *, kind: str) -> int:
        """`add`, and queue an outbox item of `kind` about it, due at once: its payload
        is `{"event_id": <the new id>}`, its time the event's. Returns the id."""
        ...

    def add_each(self, events: Sequence[ConsentEvent], notices: Sequence[str | None]) -> list[int]:
        """`add_with_notice` of each event whose notice kind is given, `add` of each whose
        is None, in order (ids and outbox rows in the same order as one by one), as one
        statement where the database has round trips. Returns their ids."""
        ...

    def add_imported(
        self,
        *,
        tenant_id: int,
        occurred_at: datetime,
        provenance: Provenance,
        rows: Sequence[ImportedEvent],
    ) -> list[int]:
        """Append one event per row in one go (an import's batch: the rows share their
        time and provenance); returns their new ids, in order."""
        ...

    def query(
        self, tenant_id: int, *, where: EventFilter, after_id: int, limit: int
    ) -> list[ConsentEvent]:
        """Events with id > `after_id` matching `where`, oldest first, at most `limit`."""
        ...

    def of_request(self, unsubscribe_request_id: int) -> list[ConsentEvent]: ...
    def scrub(self, tenant_id: int, *, address_ids: Collection[int]) -> None:
        """Remove personal data from the events of these addresses (erasure): the address
        id, actor, IP, user agent and context go; the keyed hash stays."""
        ...


class RequestRepository(Protocol):
    def add(
        self,
        *,
        tenant_id: int,
        contact_id: int | None,
        address_id: int | None,
        topic_ids: Sequence[int],
        created_at: datetime,
        effective_at: datetime,
    ) -> UnsubscribeRequest: ...
    def get(self, tenant_id: int, request_id: int) -> UnsubscribeRequest | None: ...
    def close(self, request_id: int, *, state: RequestState, at: datetime) -> None: ...
    def due(self, *, at: datetime, limit: int) -> list[UnsubscribeRequest]:
        """Pending requests of every tenant whose effective time is at or before `at`."""
        ...

    def of_contact(self, tenant_id: int, contact_id: int) -> list[UnsubscribeRequest]: ...
    def snapshot(self, tenant_id: int) -> dict[int, RequestState]: ...


class MessageRepository(Protocol):
    def add(
        self,
        *,
        tenant_id: int,
        message_uid: str,
        address_id: int,
        topic_id: int,
        campaign: str | None,
        created_at: datetime,
    ) -> Message: ...
    def get(self, tenant_id: int, message_id: int) -> Message | None: ...
    def get_each(self, keys: Sequence[tuple[int, int]]) -> list[Message | None]:
        """`get` of each (tenant id, message id), in order, as one statement where the
        database has round trips."""
        ...

    def by_uid(self, tenant_id: int, message_uid: str) -> Message | None: ...
    def of_addresses(self, address_ids: Collection[int]) -> list[Message]: ...
    def delete_of_addresses(self, address_ids: Collection[int]) -> None: ...


class ConfirmationRepository(Protocol):
    def add(self, confirmation: Confirmation) -> None: ...
    def by_hash(self, token_hash: str) -> Confirmation | None: ...
    def mark_confirmed(self, token_hash: str, *, at: datetime) -> None: ...
    def delete_of_addresses(self, address_ids: Collection[int]) -> None: ...


class OutboxRepository(Protocol):
    def add(self, item: OutboxItem) -> None: ...


class UnitOfWork(Protocol):
    """The repositories of one transaction. It is opened and committed by `Transactions`."""

    @property
    def tenants(self) -> TenantRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def topics(self) -> TopicRepository: ...
    @property
    def contacts(self) -> ContactRepository: ...
    @property
    def addresses(self) -> AddressRepository: ...
    @property
    def subscriptions(self) -> SubscriptionRepository: ...
    @property
    def suppressions(self) -> SuppressionRepository: ...
    @property
    def events(self) -> EventRepository: ...
    @property
    def requests(self) -> RequestRepository: ...
    @property
    def messages(self) -> MessageRepository: ...
    @property
    def confirmations(self) -> ConfirmationRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def idempotency(self) -> "IdempotencyRepository": ...
    @property
    def import_runs(self) -> "ImportRunRepository": ...
    @property
    def checks(self) -> CheckRepository: ...


class CombinedWorks(Protocol):
    """Runs several works of one kind together: `combined(uow, works)` writes what the
    works would write run one after another in `uow`, in that order, and returns the
    result each would have returned, in fewer statements. A work carrying one as its
    `combine` attribute may be run so by `Transactions`; if `combined` raises, the works
    are run again one by one."""

    def __call__(self, uow: "UnitOfWork", works: Sequence[object], /) -> list[object]: ...


class Transactions(Protocol):
    """Runs units of work. Each call is one atomic transaction.

    `write` returns only after the work is committed durably; if the work raises, nothing
    it wrote remains and the exception propagates. Implementations may commit several
    concurrent writes together (group commit) as long as each stays atomic on its own.
    `submit` queues the same write without waiting: its future resolves once the work is
    committed, or fails with the work's exception (an asynchronous door awaits it rather
    than hold a thread); `submit_into` reports the same to a `Completion` of the
    caller's. `read` sees committed data and must not write. `lookup` is `read` for a
    work that runs only SELECTs each complete on its own (one, or one per single check
    answered together): a statement sees one committed state by itself, so it runs
    without a transaction around it (the hottest read, a check, saves the BEGIN and the
    ROLLBACK).
    """

    def write(self, work: Callable[[UnitOfWork], T]) -> T: ...
    def submit(self, work: Callable[[UnitOfWork], T]) -> Future[T]: ...
    def submit_into(self, work: Callable[[UnitOfWork], T], completion: Completion[T]) -> None: ...
    def read(self, work: Callable[[UnitOfWork], T]) -> T: ...
    def lookup(self, work: Callable[[UnitOfWork], T]) -> T: ...


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The response kept for one idempotency key of one API key (see
    `optledger.services.idempotency`), sealed by a `ResponseSealer`."""

    tenant_id: int
    api_key_id: int
    key: str
    sealed: bytes
    """The response and the fingerprint of its request, encrypted."""
    created_at: datetime


class IdempotencyRepository(Protocol):
    def get(self, tenant_id: int, api_key_id: int, key: str) -> IdempotencyRecord | None:
        """The record of (tenant, API key, key), however old."""
        ...

    def put(self, record: IdempotencyRecord, *, replace_before: datetime) -> bool:
        """Insert the record; an existing record of (tenant, API key, key) is replaced
        only if it was created before `replace_before` (it has expired). One atomic
        statement. True if `record` was stored, False if a live record was kept instead."""
        ...

    def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        """Delete at most `limit` records created before `cutoff`, oldest first, of every
        tenant; returns how many were deleted."""
        ...


@dataclass(frozen=True, slots=True)
class ImportRun:
    """One attempt at applying one import file (see `optledger.services.suppressions`):
    how far it got, so that running the same file again resumes instead of starting over."""

    id: int
    tenant_id: int
    digest: str
    """Hex SHA-256 of the import's validated rows, in order: what makes two runs the same."""
    rows: int
    """The valid rows the import applies."""
    applied: int
    """Rows applied so far, in committed batches; the next batch starts after them."""
    changed: int
    repeated: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    """Set by the batch that applied the last row."""


class ImportRunRepository(Protocol):
    def open(self, *, tenant_id: int, digest: str, rows: int, at: datetime) -> ImportRun:
        """The unfinished run of (tenant, digest), or a new one with nothing applied.
        At most one run of a (tenant, digest) is unfinished at any time."""
        ...

    def get(self, tenant_id: int, run_id: int) -> ImportRun | None: ...

    def advance(self, run_id: int, *, applied: int, to: int, finished: bool, at: datetime) -> bool:
        """Move the run from `applied` rows to `to` (and mark it finished if `finished`).
        False, and nothing changed, if the run is not at `applied`: another attempt at the
        same import got there first. Called first in a batch's unit of work, so that on
        PostgreSQL a second attempt waits for the first here, before it writes anything."""
        ...

    def add_outcomes(self, run_id: int, *, changed: int, repeated: int) -> None:
        """Add the outcomes of the rows a batch applied to the run's counts."""
        ...
