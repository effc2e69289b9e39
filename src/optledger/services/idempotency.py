"""Idempotency keys: a retried write is answered with the first answer, not done again.

A client that did not hear back from a `POST` (a timeout, a dropped connection) cannot
tell whether its write happened. With an `Idempotency-Key` it can simply send the same
request again: the door looks the key up here and replays the response it kept, so the
write happens once and every retry gets the first response byte for byte.

The contract (docs/api.md, "Idempotency"): keys are 1 to 255 visible ASCII characters,
scoped per API key (the tenant and the key that sent the request) and kept `RETENTION`
(24 hours). Same key and same request (its `fingerprint`: method, path, query string and
body): replay. Same key and a different request: refused (`422`). Same key while the
first request is still running: refused (`409`). Responses with status 5xx are not kept,
so they can be retried.

Bound to the API key. A kept response is only ever found again by the API key that
made the request, and the door only asks once it knows that key may make the request
(its scope): a key can neither read another key's responses nor learn whether another
key used an idempotency key.

Encrypted. Responses can carry secrets (a new API key, a double opt-in token) and
personal data, so each is sealed (`ResponseSealer`) under a key derived from the
installation secret and the caller's own API key secret, which the server never stores,
with the tenant, the API key and the idempotency key as associated data. Everything
about the response is inside the seal (the request's fingerprint, status, content type
and body): a copy of the database, even with the installation secret, reveals nothing
of it, and a row moved to another key or tenant does not open.

How a door uses this service (`optledger.api.rest.idempotency` does, for REST):

1. `find` the key. A kept response with the same fingerprint is replayed; one with a
   different fingerprint means the key was reused for another request.
2. Otherwise `claim` the key, then `find` again (the first request may have finished
   between the two), run the request, `store` its response unless it is a 5xx, and
   `release` the key (always, in a `finally`). A key that cannot be claimed is in use.

The response is stored after the request's own write has committed, in a transaction of
its own, not inside the use case's unit of work: the doors reach every use case through
the same service calls and this layer wraps them from outside. The trade-off: if the
process dies between the two commits, nothing was kept, and a retry runs the use case
again. For consent changes that is harmless: the ledger records a `repeated` event, never
a second change, and the state is the same. (A use case that is not idempotent in its
state, such as creating an API key, could run twice in that window; the window is one
group commit long.)

Requests in flight: a concurrent duplicate is detected by an in-process registry, the
set of (tenant, API key, key) triples whose first request this process is running,
guarded by a lock; `claim` adds to it, `release` removes from it. The registry does not
span processes: two processes (several `uvicorn` workers, several nodes) can both run a
concurrent duplicate. The database serialises them instead: both writes go through
transactions and unique keys, so the second unsubscribe of the same address records a
`repeated` event, and `store` keeps only the first response (an insert that replaces a
row only once it has expired), returning it to the second process, which then sends
that first response rather than its own.

Expiry is by the clock: `find` ignores, and `store` replaces, rows older than
`RETENTION`. The service purges expired rows itself: a `store` deletes up to
`PURGE_BATCH` of them, oldest first, in the same transaction, at most once per
`PURGE_INTERVAL`, and again at the next `store` while a full batch was deleted (so a
backlog drains at the pace responses are stored). No scheduled job is needed.
"""

import hashlib
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Generic, TypeVar

from optledger.domain.ports import Completion, IdempotencyRecord, UnitOfWork
from optledger.services.context import ServiceContext
from optledger.services.results import Principal

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "MAX_KEY_LENGTH",
    "PURGE_BATCH",
    "PURGE_INTERVAL",
    "RETENTION",
    "IdempotencyService",
    "StoredResponse",
    "fingerprint",
    "is_valid_key",
]

RETENTION: Final = timedelta(hours=24)
"""How long a response is kept for its key (published in docs/api.md)."""
PURGE_INTERVAL: Final = timedelta(minutes=1)
PURGE_BATCH: Final = 500
"""The most expired responses one purge deletes."""

MAX_KEY_LENGTH: Final = 255

_FORMAT: Final = 1
_HEAD: Final = struct.Struct(">B32sHH")
"""Format version, the request's SHA-256, status, length of the content type."""
_NO_CONTENT_TYPE: Final = 0xFFFF


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to a key: what a retry with the same request is answered with."""

    fingerprint: str
    """Hex SHA-256 of the request it answered (see `fingerprint`)."""
    status: int
    content_type: str | None
    body: bytes
    created_at: datetime


def is_valid_key(key: str) -> bool:
    """Whether `key` is 1 to 255 visible ASCII characters (0x21 to 0x7E, no spaces)."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all("!" <= char <= "~" for char in key)


def fingerprint(*, method: str, path: bytes, query: bytes, body_sha256: bytes) -> str:
    """Hex SHA-256 of a request: its method, path, query string and the SHA-256 of its
    body (so a body can be hashed as it streams in, whatever its size).

    Each part is length-prefixed, so no two different requests share an encoding.
    """
    digest = hashlib.sha256()
    for part in (method.upper().encode("ascii"), path, query, body_sha256):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _pack(response: StoredResponse) -> bytes:
    if response.content_type is None:
        content_type, length = b"", _NO_CONTENT_TYPE
    else:
        content_type = response.content_type.encode("latin-1")
        length = len(content_type)
        if length >= _NO_CONTENT_TYPE:
            raise ValueError("the content type is too long to keep")
    head = _HEAD.pack(_FORMAT, bytes.fromhex(response.fingerprint), response.status, length)
    return head + content_type + response.body


def _unpack(plaintext: bytes, *, created_at: datetime) -> StoredResponse | None:
    if len(plaintext) < _HEAD.size:
        return None
    version, request, status, length = _HEAD.unpack_from(plaintext)
    if version != _FORMAT:
        return None
    start = _HEAD.size
    if length == _NO_CONTENT_TYPE:
        content_type = None
    else:
        content_type = plaintext[start : start + length].decode("latin-1")
        start += length
    return StoredResponse(
        fingerprint=request.hex(),
        status=status,
        content_type=content_type,
        body=plaintext[start:],
        created_at=created_at,
    )


def _associated_data(*, tenant_id: int, api_key_id: int, key: str) -> bytes:
    """What a sealed response is bound to: it opens only for this tenant, API key and
    idempotency key."""
    return b"optledger.idempotency.v1\x00%d\x00%d\x00%s" % (
        tenant_id,
        api_key_id,
        key.encode("ascii"),
    )


class IdempotencyService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._running: set[tuple[int, int, str]] = set()
        self._lock = threading.Lock()
        self._next_purge: datetime | None = None
        """When a `store` purges next; None: at the first."""

    def find(self, *, principal: Principal, credential: str, key: str) -> StoredResponse | None:
        """The response kept for this API key's idempotency key, unless there is none or
        it has expired (it is live for `RETENTION` after it was stored, that instant
        included). `credential` is the API key's secret, which opens the seal.

        A row that does not open (altered, or sealed under another installation secret)
        counts as none.
        """
        record = self._ctx.transactions.read(
            lambda uow: uow.idempotency.get(principal.tenant_id, principal.key_id, key)
        )
        if record is None or record.created_at < self._ctx.clock.now() - RETENTION:
            return None
        return self._open(record, credential=credential)

    def store(
        self,
        *,
        principal: Principal,
        credential: str,
        key: str,
        fingerprint: str,
        status: int,
        content_type: str | None,
        body: bytes,
    ) -> StoredResponse:
        """Keep the response for this API key's idempotency key, sealed under
        `credential`, replacing an expired one; purge expired responses when due.

        Returns the response now kept: this one, or, if another request with this key
        stored a response first and it is still live, that first response.
        """
        kept: Future[StoredResponse] = Future()
        self.submit_store(
            principal=principal,
            credential=credential,
            key=key,
            fingerprint=fingerprint,
            status=status,
            content_type=content_type,
            body=body,
            completion=kept,
        )
        return kept.result()

    def submit_store(
        self,
        *,
        principal: Principal,
        credential: str,
        key: str,
        fingerprint: str,
        status: int,
        content_type: str | None,
        body: bytes,
        completion: Completion[StoredResponse],
    ) -> None:
        """`store`, queued: `completion` hears the response kept once it is committed."""
        if not is_valid_key(key):
            raise ValueError("an idempotency key is 1-255 visible ASCII characters")
        if status >= 500:
            raise ValueError("5xx responses are not kept")
        now = self._ctx.clock.now()
        response = StoredResponse(
            fingerprint=fingerprint,
            status=status,
            content_type=content_type,
            body=body,
            created_at=now,
        )
        record = IdempotencyRecord(
            tenant_id=principal.tenant_id,
            api_key_id=principal.key_id,
            key=key,
            sealed=self._ctx.sealer.seal(
                _pack(response),
                credential=credential,
                associated_data=_associated_data(
                    tenant_id=principal.tenant_id, api_key_id=principal.key_id, key=key
                ),
            ),
            created_at=now,
        )

        purge = self._purge_due(now)

        def work(uow: UnitOfWork) -> tuple[IdempotencyRecord | None, int]:
            purged = (
                uow.idempotency.delete_older_than(now - RETENTION, limit=PURGE_BATCH)
                if purge
                else 0
            )
            if uow.idempotency.put(record, replace_before=now - RETENTION):
                return None, purged
            return uow.idempotency.get(principal.tenant_id, principal.key_id, key), purged

        def outcome(written: tuple[IdempotencyRecord | None, int]) -> StoredResponse:
            kept, purged = written
            if purged == PURGE_BATCH:
                with self._lock:
                    self._next_purge = None  # more may be waiting: purge at the next store
            if kept is None:
                return response
            return self._open(kept, credential=credential) or response

        self._ctx.transactions.submit_into(work, _Then(outcome, completion))

    def claim(self, *, principal: Principal, key: str) -> bool:
        """Mark this API key's idempotency key as running in this process; False if it
        already is."""
        entry = (principal.tenant_id, principal.key_id, key)
        with self._lock:
            if entry in self._running:
                return False
            self._running.add(entry)
            return True

    def release(self, *, principal: Principal, key: str) -> None:
        """The request that claimed the key has finished (stored or not)."""
        with self._lock:
            self._running.discard((principal.tenant_id, principal.key_id, key))

    def _open(self, record: IdempotencyRecord, *, credential: str) -> StoredResponse | None:
        plaintext = self._ctx.sealer.open(
            record.sealed,
            credential=credential,
            associated_data=_associated_data(
                tenant_id=record.tenant_id, api_key_id=record.api_key_id, key=record.key
            ),
        )
        if plaintext is None:
            return None
        return _unpack(plaintext, created_at=record.created_at)

    def _purge_due(self, now: datetime) -> bool:
        """Whether this `store` purges; if so, the next purge is due `PURGE_INTERVAL` on."""
        with self._lock:
            if self._next_purge is not None and now < self._next_purge:
                return False
            self._next_purge = now + PURGE_INTERVAL
            return True


class _Then(Generic[T, R]):
    """A `Completion` of a write that reports `outcome(value)` of its value (or its
    error) to `completion`. The outcome runs where the write is reported, the writer
    thread: it must stay cheap."""

    __slots__ = ("_completion", "_outcome")

    def __init__(self, outcome: Callable[[T], R], completion: Completion[R]) -> None:
        self._outcome = outcome
        self._completion = completion

    def set_result(self, result: T, /) -> None:
        try:
            value = self._outcome(result)
        except BaseException as exc:
            self._completion.set_exception(exc)
            return
        self._completion.set_result(value)

    def set_exception(self, exception: BaseException, /) -> None:
        self._completion.set_exception(exception)

    def done(self) -> bool:
        return self._completion.done()
