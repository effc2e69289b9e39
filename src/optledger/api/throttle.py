"""Rate and concurrency limits in memory, for any door: token buckets and slots, keyed by
whatever the door counts (an API key id, a client address, a link token's hash).

Each door decides what to count and how to answer (REST: problem+json 429; pages: text);
the services never know. The tables are per process: several workers or nodes each count
their own (docs/decisions/0011-rate-limits.md).

Costs: O(1) per request. A bucket is one float in an `OrderedDict` (its theoretical
arrival time, GCRA); the table keeps at most `capacity` keys and forgets the least
recently used one when full. Forgetting a key gives it a full bucket again, which only
ever lets a caller through, and the least recently used key is the one most likely to
have refilled anyway. `take` holds a lock for a few dictionary operations (doors call it
from worker threads); `wait` reads without one.
"""

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Final, Generic, TypeVar

from optledger.config import RateLimit

__all__ = ["DEFAULT_CAPACITY", "ConcurrencyLimit", "TokenBuckets", "client_key", "retry_after"]

DEFAULT_CAPACITY: Final = 65_536
"""Keys one table remembers: a few MiB at most."""

K = TypeVar("K", bound=Hashable)


class TokenBuckets(Generic[K]):
    """One token bucket per key: `rate.count` tokens at most, refilled continuously at
    `rate.count` per `rate.seconds`; a key never seen has a full bucket."""

    def __init__(
        self,
        rate: RateLimit,
        *,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = rate.seconds / rate.count
        """Seconds it takes to refill one token."""
        self._window = float(rate.seconds)
        """Seconds it takes to refill an empty bucket."""
        self._capacity = capacity
        self._clock = clock
        self._full_at: OrderedDict[K, float] = OrderedDict()
        """When each key's bucket is full again (its GCRA theoretical arrival time)."""
        self._lock = threading.Lock()

    def take(self, key: K, cost: int = 1) -> float:
        """Take `cost` tokens from `key`'s bucket: 0.0 if they were there, else the
        seconds until they will be (and nothing is taken)."""
        now = self._clock()
        with self._lock:
            known = self._full_at.get(key)
            full_at = (now if known is None else max(known, now)) + cost * self._interval
            wait = full_at - now - self._window
            if wait > 0:
                if known is not None:  # a key being refused is the last one to forget
                    self._full_at.move_to_end(key)
                return wait
            self._full_at[key] = full_at
            self._full_at.move_to_end(key)
            if len(self._full_at) > self._capacity:
                self._full_at.popitem(last=False)
        return 0.0

    def wait(self, key: K) -> float:
        """Seconds until `key`'s bucket holds a token again; 0.0 if it holds one now."""
        full_at = self._full_at.get(key)
        if full_at is None:
            return 0.0
        return max(0.0, full_at + self._interval - self._clock() - self._window)


class ConcurrencyLimit(Generic[K]):
    """At most `limit` holders of a slot per key at once. Only keys with a holder are
    kept, so memory follows the requests in flight."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held: dict[K, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, key: K) -> Iterator[bool]:
        """Hold one of `key`'s slots for the block; yields False (holding nothing) when
        all of them are taken."""
        with self._lock:
            held = self._held.get(key, 0)
            if held >= self._limit:
                entered = False
            else:
                self._held[key] = held + 1
                entered = True
        try:
            yield entered
        finally:
            if entered:
                with self._lock:
                    left = self._held[key] - 1
                    if left:
                        self._held[key] = left
                    else:
                        del self._held[key]


def client_key(host: str | None) -> str:
    """What the per-address limits count for a client: its IPv4 address, or the /64
    network of its IPv6 address (one subscriber line usually holds a whole /64)."""
    if host is None:
        return ""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def retry_after(wait: float) -> str:
    """A `Retry-After` value for `wait` seconds: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))
