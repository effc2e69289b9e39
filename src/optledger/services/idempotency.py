"""Idempotency keys: a retried write is answered with the first answer, not done again.

A client that did not hear back from a `POST` (a timeout, a dropped connection) cannot
tell whether its write happened. With an `Idempotency-Key` it can simply send the same
request again: the door looks the key up here and replays the response it kept, so the
write happens once and every retry gets the first response byte for byte.

The contract (docs/api.md, "Idempotency"): keys are 1 to 255 visible ASCII characters,
scoped per tenant and kept `RETENTION` (24 hours). Same key and same request (its
`fingerprint`: method, path, query string and body): replay. Same key and a different
request: refused (`422`). Same key while the first request is still running: refused
(`409`). Responses with status 5xx are not kept, so they can be retried.

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
set of (tenant, key) pairs whose first request this process is running, guarded by a
lock; `claim` adds to it, `release` removes from it. The registry does not span
processes: two processes (several `uvicorn` workers, several nodes) can both run a
concurrent duplicate. The database serialises them instead: both writes go through
transactions and unique keys, so the second unsubscribe of the same address records a
`repeated` event, and `store` keeps only the first response (an insert that replaces a
row only once it has expired), returning it to the second process, which then sends
that first response rather than its own.

Expiry is by the clock: `find` ignores, and `store` replaces, rows older than
`RETENTION`. `purge_expired` deletes them in batches, for a scheduled job.
"""

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from optledger.domain.ports import IdempotencyRecord, UnitOfWork
from optledger.services.context import ServiceContext

__all__ = [
    "MAX_KEY_LENGTH",
    "RETENTION",
    "IdempotencyService",
    "StoredResponse",
    "fingerprint",
    "is_valid_key",
]

RETENTION: Final = timedelta(hours=24)
"""How long a response is kept for its key (published in docs/api.md)."""

MAX_KEY_LENGTH: Final = 255


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


def _response(record: IdempotencyRecord) -> StoredResponse:
    return StoredResponse(
        fingerprint=record.fingerprint,
        status=record.status,
        content_type=record.content_type,
        body=record.body,
        created_at=record.created_at,
    )


class IdempotencyService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._running: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    def find(self, *, tenant_id: int, key: str) -> StoredResponse | None:
        """The response kept for the tenant's key, unless there is none or it has expired
        (it is live for `RETENTION` after it was stored, that instant included)."""
        record = self._ctx.transactions.read(lambda uow: uow.idempotency.get(tenant_id, key))
        if record is None or record.created_at < self._ctx.clock.now() - RETENTION:
            return None
        return _response(record)

    def store(
        self,
        *,
        tenant_id: int,
        key: str,
        fingerprint: str,
        status: int,
        content_type: str | None,
        body: bytes,
    ) -> StoredResponse:
        """Keep the response for the tenant's key, replacing an expired one.

        Returns the response now kept: this one, or, if another request with this key
        stored a response first and it is still live, that first response.
        """
        if not is_valid_key(key):
            raise ValueError("an idempotency key is 1-255 visible ASCII characters")
        if status >= 500:
            raise ValueError("5xx responses are not kept")
        now = self._ctx.clock.now()
        record = IdempotencyRecord(
            tenant_id=tenant_id,
            key=key,
            fingerprint=fingerprint,
            status=status,
            content_type=content_type,
            body=body,
            created_at=now,
        )

        def work(uow: UnitOfWork) -> StoredResponse:
            if uow.idempotency.put(record, replace_before=now - RETENTION):
                return _response(record)
            kept = uow.idempotency.get(tenant_id, key)
            assert kept is not None  # put keeps only a live row, in this transaction
            return _response(kept)

        return self._ctx.transactions.write(work)

    def purge_expired(self, *, limit: int) -> int:
        """Delete up to `limit` expired responses, oldest first; returns how many. Run it
        repeatedly until it returns less than `limit`."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        cutoff = self._ctx.clock.now() - RETENTION
        return self._ctx.transactions.write(
            lambda uow: uow.idempotency.delete_older_than(cutoff, limit=limit)
        )

    def claim(self, *, tenant_id: int, key: str) -> bool:
        """Mark the tenant's key as running in this process; False if it already is."""
        entry = (tenant_id, key)
        with self._lock:
            if entry in self._running:
                return False
            self._running.add(entry)
            return True

    def release(self, *, tenant_id: int, key: str) -> None:
        """The request that claimed the key has finished (stored or not)."""
        with self._lock:
            self._running.discard((tenant_id, key))
