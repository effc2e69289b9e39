"""Bulk import of suppressions from CSV or NDJSON, and their export.

The CSV has a header row. It names the address by an `email` column, a `phone` column
(the sms channel), or a `channel` and an `address` column; optional columns are `topic`
(unsubscribe from that topic only instead of suppressing the address), `reason` and
`timestamp` (ISO 8601, when the person opted out; UTC if it has no offset). The
delimiter may be a comma, a semicolon or a tab.

NDJSON has no header: each non-blank line is one JSON object whose keys are the same
names as the CSV columns (`email`, `phone`, or `channel` and `address`; `topic`,
`reason`, `timestamp`), each a string or null. Other keys are refused.

An import is all or nothing: every row is validated first, and with any bad row nothing
is written unless `skip_invalid` is set, in which case the good rows are imported and
the bad ones reported.
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from optledger.domain.channels import Channel, parse_channel
from optledger.domain.errors import FieldError, InvalidInput
from optledger.domain.model import Action, Outcome, Provenance, SubscriptionState, Topic
from optledger.domain.ports import UnitOfWork
from optledger.services.context import (
    AddressKey,
    ServiceContext,
    ensure_address,
    set_suppressed,
    set_topic_state,
)

__all__ = [
    "ImportReport",
    "RowError",
    "SuppressionExport",
    "SuppressionPage",
    "SuppressionService",
]

_DELIMITERS = (",", ";", "\t")
MAX_REASON_LENGTH = 200


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    key: AddressKey
    topic: str | None
    reason: str
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    """Data rows read (not counting the header)."""
    changed: int
    repeated: int
    errors: tuple[RowError, ...]
    """The rows that were not imported, and why."""


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


class SuppressionService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def import_csv(
        self,
        *,
        tenant_id: int,
        lines: Iterable[str],
        skip_invalid: bool,
        provenance: Provenance,
    ) -> ImportReport:
        """Import suppressions; see the module docstring for the format and the rules.

        Raises InvalidInput naming every bad row (`line N: column`) when any row is bad
        and `skip_invalid` is false; then nothing is written.
        """
        return self._import(
            tenant_id=tenant_id,
            read=lambda address_key: _read(lines, address_key=address_key),
            skip_invalid=skip_invalid,
            provenance=provenance,
        )

    def import_ndjson(
        self,
        *,
        tenant_id: int,
        lines: Iterable[str],
        skip_invalid: bool,
        provenance: Provenance,
    ) -> ImportReport:
        """Import suppressions from NDJSON, one object a line; the rules are the CSV's
        (see the module docstring), and a bad line is reported as `line N: key`."""
        return self._import(
            tenant_id=tenant_id,
            read=lambda address_key: _read_ndjson(lines, address_key=address_key),
            skip_invalid=skip_invalid,
            provenance=provenance,
        )

    def _import(
        self,
        *,
        tenant_id: int,
        read: "Callable[[AddressKeyMaker], Iterator[_Row | RowError]]",
        skip_invalid: bool,
        provenance: Provenance,
    ) -> ImportReport:
        tenant = self._ctx.tenant(tenant_id)
        topics = {
            t.key: t
            for t in self._ctx.transactions.read(lambda uow: uow.topics.of_tenant(tenant_id))
        }

        def address_key(channel: Channel, raw: str, column: str) -> AddressKey:
            return self._ctx.address_key(tenant=tenant, channel=channel, raw=raw, field=column)

        rows: list[_Row] = []
        errors: list[RowError] = []
        count = 0
        for parsed in read(address_key):
            count += 1
            if isinstance(parsed, RowError):
                errors.append(parsed)
            elif parsed.topic is not None and parsed.topic not in topics:
                errors.append(RowError(parsed.line, "topic", f"there is no topic {parsed.topic!r}"))
            else:
                rows.append(parsed)
        if errors and not skip_invalid:
            raise InvalidInput(*(FieldError(f"line {e.line}: {e.field}", e.reason) for e in errors))

        def write(uow: UnitOfWork) -> ImportReport:
            outcomes = [
                self._apply(uow, tenant_id=tenant_id, row=row, topics=topics, provenance=provenance)
                for row in rows
            ]
            return ImportReport(
                rows=count,
                changed=outcomes.count(Outcome.CHANGED),
                repeated=outcomes.count(Outcome.REPEATED),
                errors=tuple(errors),
            )

        return self._ctx.transactions.write(write)

    def _apply(
        self,
        uow: UnitOfWork,
        *,
        tenant_id: int,
        row: _Row,
        topics: Mapping[str, Topic],
        provenance: Provenance,
    ) -> Outcome:
        now = self._ctx.clock.now()
        address = ensure_address(uow, self._ctx, tenant_id=tenant_id, key=row.key)
        if row.topic is None:
            change = set_suppressed(
                uow,
                at=now,
                address=address,
                suppressed=True,
                reason=row.reason,
                provenance=provenance,
                suppressed_since=row.timestamp,
            )
        else:
            change = set_topic_state(
                uow,
                at=now,
                action=Action.UNSUBSCRIBE,
                address=address,
                topic=topics[row.topic],
                state=SubscriptionState.UNSUBSCRIBED,
                provenance=provenance,
            )
        return change.outcome

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


AddressKeyMaker = Callable[[Channel, str, str], AddressKey]
"""(channel, raw address, column) → the normalised, hashed address; InvalidInput if bad."""


def _read(lines: Iterable[str], *, address_key: AddressKeyMaker) -> Iterator[_Row | RowError]:
    iterator = iter(lines)
    header_line = next(iterator, "")
    delimiter = max(_DELIMITERS, key=header_line.count)
    header = next(csv.reader([header_line.lstrip("\ufeff")], delimiter=delimiter), [])
    columns = [name.strip().lower() for name in header]
    _check_header(columns)
    reader = csv.reader(iterator, delimiter=delimiter)
    for line_number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            reason = f"has {len(values)} fields, the header has {len(columns)}"
            yield RowError(line_number, "row", reason)
            continue
        row = dict(zip(columns, values, strict=True))
        yield _parse_row(row, line=line_number, address_key=address_key)


_NDJSON_KEYS = frozenset({"email", "phone", "channel", "address", "topic", "reason", "timestamp"})


def _read_ndjson(
    lines: Iterable[str], *, address_key: AddressKeyMaker
) -> Iterator[_Row | RowError]:
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        yield _parse_object(line, line=line_number, address_key=address_key)


def _parse_object(text: str, *, line: int, address_key: AddressKeyMaker) -> _Row | RowError:
    try:
        value = json.loads(text)
    except ValueError:
        return RowError(line, "row", "is not valid JSON")
    if not isinstance(value, dict):
        return RowError(line, "row", "is not a JSON object")
    row: dict[str, str] = {}
    for key, item in value.items():
        if key not in _NDJSON_KEYS:
            return RowError(line, str(key), "is not a known field")
        if item is None:
            continue
        if not isinstance(item, str):
            return RowError(line, key, "must be a string or null")
        row[key] = item
    has_address = "email" in row or "phone" in row or {"channel", "address"} <= set(row)
    if not has_address:
        return RowError(line, "row", "needs 'email' or 'phone', or 'channel' and 'address'")
    return _parse_row(row, line=line, address_key=address_key)


def _check_header(columns: list[str]) -> None:
    has_address = "email" in columns or "phone" in columns or {"channel", "address"} <= set(columns)
    if not has_address:
        raise InvalidInput.of(
            "line 1: header", "needs an 'email' or 'phone' column, or 'channel' and 'address'"
        )
    if len(set(columns)) != len(columns):
        raise InvalidInput.of("line 1: header", "names a column twice")


def _parse_row(row: dict[str, str], *, line: int, address_key: AddressKeyMaker) -> _Row | RowError:
    if "channel" in row and "address" in row:
        column = "address"
        try:
            channel = parse_channel(row["channel"])
        except InvalidInput:
            return RowError(line, "channel", "is not a known channel")
    elif row.get("email", "").strip():
        channel, column = Channel.EMAIL, "email"
    else:
        channel, column = Channel.SMS, "phone"
    try:
        key = address_key(channel, row.get(column, ""), column)
    except InvalidInput as exc:
        return RowError(line, column, exc.errors[0].reason)
    reason = row.get("reason", "").strip() or "imported"
    if len(reason) > MAX_REASON_LENGTH:
        return RowError(line, "reason", f"must be at most {MAX_REASON_LENGTH} characters")
    timestamp = None
    if raw_time := row.get("timestamp", "").strip():
        try:
            timestamp = datetime.fromisoformat(raw_time)
        except ValueError:
            return RowError(line, "timestamp", "is not an ISO 8601 date or time")
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
    topic = row.get("topic", "").strip() or None
    return _Row(line, key, topic, reason, timestamp)
