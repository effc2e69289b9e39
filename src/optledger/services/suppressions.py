"""Bulk import of suppressions from CSV or NDJSON, and their export.

The formats and how bad files are reported: `optledger.services.import_files`. A row
names the address by `email`, `phone` (the sms channel), or `channel` and `address`;
optional fields are `topic` (unsubscribe from that topic only instead of suppressing the
address), `reason` (at most 200 characters; "imported" if empty) and `timestamp` (ISO
8601, when the person opted out; UTC if it has no offset; after 1970-01-01T00:00:00Z and
at most a day in the future).

An import runs in two passes (decisions 0008 and 0009):

1. Check. The file is read as a stream; every row is validated and normalised (hashed
   too), and the valid rows go to spools (temporary files) in runs sorted by address
   hash (`_SortedRuns`), never all into memory.
   Without `skip_invalid` the first bad row ends the import, as PostgreSQL's COPY does:
   InvalidInput names it (`line N: field`) and nothing is written, however far into
   the file it is. With `skip_invalid` the bad rows are counted and the first
   `MAX_LISTED_ERRORS` of them listed in the report.
2. Write. The spooled rows are applied in batches, each one write transaction holding
   its rows' state, ledger events, one outbox row and the import's progress together.
   The rows are written in address-hash order over the whole import (the runs merged,
   decision 0027). Batches are sized to last about `BATCH_TARGET` seconds each, so
   another writer of the same database (a server taking opt-outs) waits at most about
   one batch. A batch is written in bulk (decision 0021): its addresses and state are
   read with a few statements, each row's outcome is decided in order as
   `set_suppressed` and `set_topic_state` decide it, and the new rows go in as plain
   tuples with one `executemany` (SQLite) or COPY (PostgreSQL) per table. Every row is
   still its own ledger event; the outbox row, `consent.changed.batch`, names the
   batch's events that changed something.

Progress is kept in an import run, identified by the tenant and the SHA-256 of the
spooled rows (in file order). An import that failed or was stopped part way can simply be run again:
the same file (or any file with the same valid rows) resumes after the last committed
batch, and its report counts the rows of every attempt. Once a run has finished,
running the file again is a new import that applies every row again (recorded as
`repeated` where nothing changed), as sending an opt-out again does.
"""

import hashlib
import heapq
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from operator import itemgetter
from typing import Final, NamedTuple, Protocol

from optledger.domain.channels import Channel, parse_channel
from optledger.domain.errors import Conflict, FieldError, InvalidInput
from optledger.domain.model import (
    Action,
    OutboxItem,
    Outcome,
    Provenance,
    Subscription,
    SubscriptionState,
    Tenant,
    Topic,
)
from optledger.domain.ports import (
    ImportedEvent,
    ImportRun,
    NewSuppression,
    Spool,
    Spools,
    UnitOfWork,
)
from optledger.domain.suppressions import suppression_origin
from optledger.services.context import ServiceContext
from optledger.services.import_files import Record, RowError, read_csv, read_ndjson

__all__ = [
    "BATCH_NOTICE",
    "BATCH_TARGET",
    "EARLIEST_TIMESTAMP",
    "MAX_LISTED_ERRORS",
    "MAX_REASON_LENGTH",
    "ImportObserver",
    "ImportReport",
    "RowError",
    "SuppressionExport",
    "SuppressionPage",
    "SuppressionService",
]

MAX_REASON_LENGTH: Final = 200
MAX_LISTED_ERRORS: Final = 1_000
"""With `skip_invalid`, the most bad rows a report lists; it counts them all."""
EARLIEST_TIMESTAMP: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""A row's timestamp must be later: epoch zero and earlier are placeholders, not dates."""
FUTURE_TOLERANCE: Final = timedelta(days=1)
"""How far in the future a row's timestamp may be (clocks and time zones differ)."""
BATCH_TARGET: Final = 0.04
"""Seconds of work per write batch; with its commit, about 50 ms of the write lock."""
FIRST_BATCH_ROWS: Final = 100
MAX_BATCH_ROWS: Final = 5_000
CONFLICT_ATTEMPTS: Final = 3
BATCH_NOTICE: Final = "consent.changed.batch"
"""The outbox kind of an import batch: `{"event_ids": [...]}`, the batch's ledger events
that changed something (a single change queues one `consent.changed` per event)."""
SORT_WINDOW: Final = 50_000
"""Rows sorted in memory at a time, into one sorted run (see `_SortedRuns`); about 20 MB."""
MAX_RUNS: Final = 32
"""Sorted runs merged at once; that many runs of one size are merged into one run."""


class _Row(NamedTuple):
    """A checked row, as spooled and as written (a plain tuple: an import has millions)."""

    channel: Channel
    value: str
    address_hash: str
    topic: str | None
    reason: str
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    """Data rows read (not counting the header), good and bad."""
    changed: int
    repeated: int
    skipped: int
    """Bad rows, not imported (only with `skip_invalid`)."""
    errors: tuple[RowError, ...]
    """The first `MAX_LISTED_ERRORS` bad rows, and why."""
    resumed: int = 0
    """Rows an earlier attempt at the same import had written; this one went on after them."""


@dataclass(frozen=True, slots=True)
class SuppressionExport:
    channel: Channel
    address: str | None
    """None when the person was erased: only the keyed hash is left."""
    address_hash: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SuppressionPage:
    rows: tuple[SuppressionExport, ...]
    next_cursor: tuple[str, str] | None


class ImportObserver(Protocol):
    """What a door may want to hear about an import's second pass (a progress display)."""

    def writing(self, *, written: int, total: int) -> None:
        """`written` of the `total` valid rows are written. Called once when the write
        pass starts (`written` is above 0 when the import resumes) and after each batch."""
        ...


class _Unobserved:
    def writing(self, *, written: int, total: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _Checked:
    rows: int
    valid: int
    digest: str
    skipped: int
    errors: tuple[RowError, ...]


@dataclass(frozen=True, slots=True)
class _Totals:
    changed: int
    repeated: int


@dataclass(frozen=True, slots=True)
class _Batch:
    changed: int
    repeated: int
    seconds: float
    """How long the batch's work took, inside its transaction."""


class _Overtaken(Exception):
    """Another attempt at the same import committed this batch's rows first."""


class SuppressionService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def import_csv(
        self,
        *,
        tenant_id: int,
        chunks: Iterable[bytes],
        skip_invalid: bool,
        provenance: Provenance,
        observer: ImportObserver | None = None,
    ) -> ImportReport:
        """Import suppressions from the bytes of a CSV file; see the module docstring.

        Raises InvalidInput naming the first bad row (`line N: field`) when `skip_invalid`
        is false, and for a file that cannot be read at all (`line 1…`); then nothing is
        written. Errors of the write pass (Unavailable) leave every batch before them
        written; running the import again resumes after them.
        """
        return self._import(
            tenant_id=tenant_id,
            records=read_csv(chunks),
            skip_invalid=skip_invalid,
            provenance=provenance,
            observer=observer or _Unobserved(),
        )

    def import_ndjson(
        self,
        *,
        tenant_id: int,
        chunks: Iterable[bytes],
        skip_invalid: bool,
        provenance: Provenance,
        observer: ImportObserver | None = None,
    ) -> ImportReport:
        """Import suppressions from the bytes of an NDJSON file, one object a line; the
        rules are the CSV's (see `import_csv`)."""
        return self._import(
            tenant_id=tenant_id,
            records=read_ndjson(chunks),
            skip_invalid=skip_invalid,
            provenance=provenance,
            observer=observer or _Unobserved(),
        )

    def _import(
        self,
        *,
        tenant_id: int,
        records: Iterator[Record | RowError],
        skip_invalid: bool,
        provenance: Provenance,
        observer: ImportObserver,
    ) -> ImportReport:
        tenant = self._ctx.tenant(tenant_id)
        topics = {
            t.key: t
            for t in self._ctx.transactions.read(lambda uow: uow.topics.of_tenant(tenant_id))
        }
        with ExitStack() as stack:
            runs = _SortedRuns(self._ctx.spools, stack)
            checked = self._check(
                tenant=tenant,
                topics=topics,
                records=records,
                skip_invalid=skip_invalid,
                runs=runs,
            )
            if checked.valid == 0:
                return ImportReport(
                    rows=checked.rows,
                    changed=0,
                    repeated=0,
                    skipped=checked.skipped,
                    errors=checked.errors,
                )
            run = self._ctx.transactions.write(
                lambda uow: uow.import_runs.open(
                    tenant_id=tenant_id,
                    digest=checked.digest,
                    rows=checked.valid,
                    at=self._ctx.clock.now(),
                )
            )
            totals = self._write(
                run=run, runs=runs, topics=topics, provenance=provenance, observer=observer
            )
        return ImportReport(
            rows=checked.rows,
            changed=totals.changed,
            repeated=totals.repeated,
            skipped=checked.skipped,
            errors=checked.errors,
            resumed=run.applied,
        )

    def _check(
        self,
        *,
        tenant: Tenant,
        topics: Mapping[str, Topic],
        records: Iterator[Record | RowError],
        skip_invalid: bool,
        runs: "_SortedRuns",
    ) -> _Checked:
        """Pass 1: validate every row, spool the valid ones (in sorted runs), digest them in
        file order."""
        now = self._ctx.clock.now()
        digest = hashlib.sha256(_ORDER)
        rows = valid = skipped = 0
        errors: list[RowError] = []
        for record in records:
            rows += 1
            row = (
                record
                if isinstance(record, RowError)
                else self._validate(record, tenant=tenant, topics=topics, now=now)
            )
            if isinstance(row, RowError):
                if not skip_invalid:
                    raise InvalidInput(FieldError(f"line {row.line}: {row.field}", row.reason))
                skipped += 1
                if len(errors) < MAX_LISTED_ERRORS:
                    errors.append(row)
                continue
            line = _encode(row)
            runs.add(row.address_hash, line)
            digest.update(f"{line}\n".encode())
            valid += 1
        return _Checked(
            rows=rows,
            valid=valid,
            digest=digest.hexdigest(),
            skipped=skipped,
            errors=tuple(errors),
        )

    def _validate(
        self, record: Record, *, tenant: Tenant, topics: Mapping[str, Topic], now: datetime
    ) -> _Row | RowError:
        values, line = record.values, record.line
        if "channel" in values and "address" in values:
            column = "address"
            try:
                channel = parse_channel(values["channel"])
            except InvalidInput:
                return RowError(line, "channel", "is not a known channel")
        elif values.get("email", "").strip():
            channel, column = Channel.EMAIL, "email"
        else:
            channel, column = Channel.SMS, "phone"
        try:
            key = self._ctx.address_key(
                tenant=tenant, channel=channel, raw=values.get(column, ""), field=column
            )
        except InvalidInput as exc:
            return RowError(line, column, exc.errors[0].reason)
        reason = values.get("reason", "").strip() or "imported"
        if len(reason) > MAX_REASON_LENGTH:
            return RowError(line, "reason", f"must be at most {MAX_REASON_LENGTH} characters")
        timestamp = None
        if raw_time := values.get("timestamp", "").strip():
            parsed = _timestamp(raw_time, now=now)
            if isinstance(parsed, str):
                return RowError(line, "timestamp", parsed)
            timestamp = parsed
        topic = values.get("topic", "").strip() or None
        if topic is not None and topic not in topics:
            return RowError(line, "topic", "is not a topic of this tenant")
        return _Row(key.channel, key.value, key.address_hash, topic, reason, timestamp)

    def _write(
        self,
        *,
        run: ImportRun,
        runs: "_SortedRuns",
        topics: Mapping[str, Topic],
        provenance: Provenance,
        observer: ImportObserver,
    ) -> _Totals:
        """Pass 2: apply the spooled rows after `run.applied`, batch by batch; the run's
        totals at the end. Should another attempt at the same import overtake this one,
        this one goes on after the rows that one wrote."""
        while True:
            try:
                return self._write_from(
                    run=run, runs=runs, topics=topics, provenance=provenance, observer=observer
                )
            except _Overtaken:
                run = self._ctx.transactions.read(
                    partial(_import_run, tenant_id=run.tenant_id, run_id=run.id)
                )

    def _write_from(
        self,
        *,
        run: ImportRun,
        runs: "_SortedRuns",
        topics: Mapping[str, Topic],
        provenance: Provenance,
        observer: ImportObserver,
    ) -> _Totals:
        position, changed, repeated = run.applied, run.changed, run.repeated
        observer.writing(written=position, total=run.rows)
        rows = runs.replay(start=position)
        size = FIRST_BATCH_ROWS
        while batch := list(islice(rows, size)):
            work = partial(
                self._write_batch,
                run=run,
                position=position,
                batch=batch,
                topics=topics,
                provenance=provenance,
            )
            done = self._write_batch_retrying(work)
            position += len(batch)
            changed += done.changed
            repeated += done.repeated
            size = _next_batch_size(size, rows=len(batch), seconds=done.seconds)
            observer.writing(written=position, total=run.rows)
        return _Totals(changed=changed, repeated=repeated)

    def _write_batch_retrying(self, work: Callable[[UnitOfWork], _Batch]) -> _Batch:
        """Write a batch; again should another process add one of its addresses or
        suppressions after the batch looked for them (PostgreSQL: writers run side by
        side), up to `CONFLICT_ATTEMPTS` times. The next attempt finds them."""
        for _ in range(CONFLICT_ATTEMPTS - 1):
            try:
                return self._ctx.transactions.write(work)
            except Conflict:
                continue
        return self._ctx.transactions.write(work)

    def _write_batch(
        self,
        uow: UnitOfWork,
        *,
        run: ImportRun,
        position: int,
        batch: list[_Row],
        topics: Mapping[str, Topic],
        provenance: Provenance,
    ) -> _Batch:
        started = time.perf_counter()
        end = position + len(batch)
        now = self._ctx.clock.now()
        claimed = uow.import_runs.advance(
            run.id, applied=position, to=end, finished=end == run.rows, at=now
        )
        if not claimed:
            raise _Overtaken
        changed = _apply_batch(
            uow, tenant_id=run.tenant_id, at=now, batch=batch, topics=topics, provenance=provenance
        )
        uow.import_runs.add_outcomes(run.id, changed=changed, repeated=len(batch) - changed)
        return _Batch(
            changed=changed,
            repeated=len(batch) - changed,
            seconds=time.perf_counter() - started,
        )

    def export_page(
        self, *, tenant_id: int, after: tuple[str, str] | None = None, limit: int = 1_000
    ) -> SuppressionPage:
        """One page of the tenant's suppressions, ordered by (channel, hash)."""
        if not 1 <= limit <= 10_000:
            raise InvalidInput.of("limit", "must be between 1 and 10000")

        self._ctx.tenant(tenant_id)

        def work(uow: UnitOfWork) -> SuppressionPage:
            page = uow.suppressions.page(tenant_id, after=after, limit=limit)
            rows = tuple(
                SuppressionExport(
                    channel=s.channel,
                    address=address,
                    address_hash=s.address_hash,
                    reason=s.reason,
                    created_at=s.created_at,
                )
                for s, address in page
            )
            last = rows[-1] if len(rows) == limit else None
            return SuppressionPage(
                rows=rows,
                next_cursor=(last.channel.value, last.address_hash) if last else None,
            )

        return self._ctx.transactions.read(work)


def _import_run(uow: UnitOfWork, *, tenant_id: int, run_id: int) -> ImportRun:
    run = uow.import_runs.get(tenant_id, run_id)
    if run is None:
        raise LookupError(f"import run {run_id} disappeared")
    return run


def _apply_batch(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    at: datetime,
    batch: list[_Row],
    topics: Mapping[str, Topic],
    provenance: Provenance,
) -> int:
    """Apply the rows in order, as `set_suppressed` / `set_topic_state` would one by one,
    in a few statements per table (decision 0021); the number of rows that changed.

    Each row is still its own ledger event. What changed is decided here from the state
    read in bulk at the start (the rows before it in the batch included), so the writes
    are inserts of known-new rows. One outbox row, `consent.changed.batch`, names the
    events that changed something, where a single change queues a `consent.changed`.
    The rows go to storage as plain tuples (decision 0027): no domain object per row.
    """
    known = _addresses(uow, tenant_id=tenant_id, at=at, batch=batch)
    reasons = _suppression_reasons(uow, tenant_id=tenant_id, batch=batch)
    states = _topic_states(uow, batch=batch, topics=topics, known=known)
    suppressions: list[NewSuppression] = []
    stronger: dict[tuple[Channel, str], str] = {}
    subscriptions: dict[tuple[int, int], Subscription] = {}
    events: list[ImportedEvent] = []
    changed: list[int] = []
    """Indexes of the events that changed something."""
    for index, (channel, value, address_hash, topic_key, reason, timestamp) in enumerate(batch):
        address_id, contact_id = known[(channel, value)]
        if topic_key is None:
            key = (channel, address_hash)
            current = reasons.get(key)
            if current is None:
                outcome = Outcome.CHANGED
                reasons[key] = reason
                suppressions.append(
                    NewSuppression(channel, address_hash, address_id, reason, timestamp or at)
                )
            else:
                outcome = Outcome.REPEATED
                by_person = suppression_origin(reason).by_person
                if not by_person and suppression_origin(current).by_person:
                    reasons[key] = stronger[key] = reason
            topic_id, action, state = None, Action.SUPPRESS, None
        else:
            topic_id = topics[topic_key].id
            action, state = Action.UNSUBSCRIBE, SubscriptionState.UNSUBSCRIBED
            current_state = states.get((address_id, topic_id))
            outcome = Outcome.REPEATED if current_state == state else Outcome.CHANGED
            if outcome is Outcome.CHANGED:
                states[(address_id, topic_id)] = state
                subscriptions[(address_id, topic_id)] = Subscription(
                    address_id=address_id, topic_id=topic_id, state=state, updated_at=at
                )
        if outcome is Outcome.CHANGED:
            changed.append(index)
        events.append(
            ImportedEvent(
                action, outcome, channel, address_hash, address_id, contact_id, topic_id, state
            )
        )
    uow.suppressions.add_many(tenant_id, suppressions)
    for (channel, address_hash), reason in stronger.items():
        uow.suppressions.set_reason(tenant_id, channel, address_hash, reason=reason)
    uow.subscriptions.put_many(list(subscriptions.values()))
    ids = uow.events.add_imported(
        tenant_id=tenant_id, occurred_at=at, provenance=provenance, rows=events
    )
    if changed:
        uow.outbox.add(
            OutboxItem(
                tenant_id=tenant_id,
                kind=BATCH_NOTICE,
                payload={"event_ids": [ids[index] for index in changed]},
                created_at=at,
            )
        )
    return len(changed)


def _addresses(
    uow: UnitOfWork, *, tenant_id: int, at: datetime, batch: list[_Row]
) -> dict[tuple[Channel, str], tuple[int, int | None]]:
    """(channel, value) → (id, contact id) of every row's stored address, the missing
    ones added."""
    wanted: dict[Channel, dict[str, str]] = {}
    for row in batch:
        wanted.setdefault(row.channel, {})[row.value] = row.address_hash
    known: dict[tuple[Channel, str], tuple[int, int | None]] = {}
    missing: list[tuple[Channel, str, str]] = []
    for channel, values in wanted.items():
        found = uow.addresses.find_many(tenant_id, channel, values)
        for value, address_hash in values.items():
            address = found.get(value)
            if address is None:
                missing.append((channel, value, address_hash))
            else:
                known[(channel, value)] = (address.id, address.contact_id)
    ids = uow.addresses.add_many(tenant_id=tenant_id, keys=missing, created_at=at)
    for (channel, value, _), address_id in zip(missing, ids, strict=True):
        known[(channel, value)] = (address_id, None)
    return known


def _suppression_reasons(
    uow: UnitOfWork, *, tenant_id: int, batch: list[_Row]
) -> dict[tuple[Channel, str], str]:
    """(channel, hash) → reason of the existing suppressions of the batch's rows."""
    hashes: dict[Channel, set[str]] = {}
    for row in batch:
        if row.topic is None:
            hashes.setdefault(row.channel, set()).add(row.address_hash)
    return {
        (channel, address_hash): reason
        for channel, wanted in hashes.items()
        for address_hash, reason in uow.suppressions.reasons(tenant_id, channel, wanted).items()
    }


def _topic_states(
    uow: UnitOfWork,
    *,
    batch: list[_Row],
    topics: Mapping[str, Topic],
    known: Mapping[tuple[Channel, str], tuple[int, int | None]],
) -> dict[tuple[int, int], SubscriptionState]:
    """(address id, topic id) → state, for the batch's topic rows that have one."""
    address_ids: dict[int, set[int]] = {}
    for row in batch:
        if row.topic is not None:
            address_id, _ = known[(row.channel, row.value)]
            address_ids.setdefault(topics[row.topic].id, set()).add(address_id)
    return {
        (address_id, topic_id): state
        for topic_id, wanted in address_ids.items()
        for address_id, state in uow.subscriptions.states(topic_id, wanted).items()
    }


class _SortedRuns:
    """The checked rows, read back in address-hash order with bounded memory (an external
    merge sort): every `SORT_WINDOW` rows are sorted in memory and spooled as one sorted
    run, and the runs are merged as they are read. Should `MAX_RUNS` runs of one size
    pile up, they are merged into one run at once, so no more than about `MAX_RUNS` runs
    per size are ever open (each holds a read buffer).

    Why hash order: three indexes are keyed by the hash, and rows in file order hit a
    random page of each per row; with short transactions every commit then writes out
    about as many pages as it has rows. Sorted, a batch's rows share pages. Sorted over
    the whole import, not per window, successive batches also move forward through each
    index instead of sweeping it again window after window (decision 0027).

    The sort is stable (the rows of one address keep their file order, so every address
    ends in the state the file order gives it) and the order depends only on the rows,
    so a resumed import skips exactly the rows written before.
    """

    def __init__(self, spools: Spools, stack: ExitStack) -> None:
        self._spools = spools
        self._stack = stack
        self._window: list[tuple[str, str]] = []
        """(hash, spool line) of the rows not spooled yet, in file order."""
        self._runs: list[tuple[int, Spool]] = []
        """(level, run) in file order: a run of level n merged MAX_RUNS**n windows."""

    def add(self, address_hash: str, line: str) -> None:
        self._window.append((address_hash, line))
        if len(self._window) >= SORT_WINDOW:
            self._spill()

    def replay(self, *, start: int) -> Iterator[_Row]:
        """Every row in hash order, from the `start`-th on."""
        if self._window:
            self._spill()
        return islice(self._merged(self._runs), start, None)

    def _spill(self) -> None:
        window, self._window = self._window, []
        window.sort(key=itemgetter(0))
        self._runs.append((0, self._spooled(line for _, line in window)))
        level = 0
        while len(self._runs) >= MAX_RUNS and all(
            run_level == level for run_level, _ in self._runs[-MAX_RUNS:]
        ):
            tail = self._runs[-MAX_RUNS:]
            del self._runs[-MAX_RUNS:]
            level += 1
            merged = self._spooled(_encode(row) for row in self._merged(tail))
            self._runs.append((level, merged))

    def _spooled(self, lines: Iterable[str]) -> Spool:
        spool = self._stack.enter_context(self._spools.open())
        for line in lines:
            spool.append(line)
        return spool

    @staticmethod
    def _merged(runs: list[tuple[int, Spool]]) -> Iterator[_Row]:
        streams = [map(_decode, spool.replay()) for _, spool in runs]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_by_hash)


def _next_batch_size(size: int, *, rows: int, seconds: float) -> int:
    """The size of the next batch: halfway from `size` to the size that would have lasted
    `BATCH_TARGET`, judged by a full batch of `rows` rows that took `seconds`."""
    if rows < size:
        return size
    ideal = rows * BATCH_TARGET / max(seconds, 1e-6)
    return max(1, min(MAX_BATCH_ROWS, round((size + ideal) / 2)))


def _timestamp(text: str, *, now: datetime) -> datetime | str:
    """The time `text` names, in UTC if it has no offset; else the reason it is refused."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return "is not an ISO 8601 date or time"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= EARLIEST_TIMESTAMP:
        return "must be after 1970-01-01T00:00:00Z"
    if moment > now + FUTURE_TOLERANCE:
        return "must not be more than a day in the future"
    return moment


def _encode(row: _Row) -> str:
    """A validated row as one line of the spool."""
    timestamp = row.timestamp.isoformat() if row.timestamp else None
    fields = [row.channel.value, row.value, row.address_hash, row.topic, row.reason, timestamp]
    return _ENCODER.encode(fields)


def _decode(line: str) -> _Row:
    channel, value, address_hash, topic, reason, timestamp = _DECODER.decode(line)
    return _Row(
        _CHANNELS[channel],
        value,
        address_hash,
        topic,
        reason,
        datetime.fromisoformat(timestamp) if timestamp else None,
    )


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DECODER: Final = json.JSONDecoder()
_CHANNELS: Final = {channel.value: channel for channel in Channel}
_by_hash: Final = itemgetter(2)
"""A `_Row`'s address hash."""
_ORDER: Final = b"rows in address-hash order over the whole import\n"
"""Starts every import's digest. The order a run's rows are written in is part of what
its progress means (it counts rows in that order), so a run begun by a version that
wrote in another order (per window, before decision 0027) is not resumed by this one."""
