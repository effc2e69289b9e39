"""May-send checks: one address or a batch, against one topic on one channel."""

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Final, TypeVar

import polars as pl

from optledger.domain.channels import Channel
from optledger.domain.errors import InvalidInput
from optledger.domain.model import SubscriptionState, Tenant, Topic
from optledger.domain.policy import Decision, Reason, decide
from optledger.domain.ports import ConsentQuery, SuppressedSet, UnitOfWork
from optledger.services.context import AddressKey, ServiceContext
from optledger.services.list_checks import (
    ListCheckChunk,
    Lookup,
    Verdicts,
    WholeSuppressions,
    answer_piece,
    normalise_piece,
    pieces,
    states_frame,
)
from optledger.services.results import CheckResult, LineCheckResult
from optledger.services.validation import check_storable

__all__ = [
    "LIST_BATCH",
    "MAX_CHECK_BATCH",
    "PARALLEL",
    "WHOLE_READ_LIMIT",
    "CheckService",
    "PreparedCheck",
]

_T = TypeVar("_T")

MAX_CHECK_BATCH = 10_000
LIST_BATCH: Final = 20_000
"""Lines of a list checked together: two statements each, and the memory of one batch."""
PARALLEL: Final = max(1, min(4, os.cpu_count() or 1))
"""Pieces of a long list answered at once, one a core (up to 4): polars answers one piece
on about one core, its string functions taking one column chunk at a time."""
WHOLE_READ_LIMIT: Final = 1_000_000
"""Most suppressions on a channel (about 150 MB of hashes), and most subscription states of
a topic, that a list longer than one batch reads whole instead of looking its lines up
batch by batch: one scan costs less than a million index probes (decision 0020)."""


@dataclass(frozen=True, slots=True)
class PreparedCheck:
    """A single check ready for its read of the database (`CheckService.prepare_one`)."""

    input: str
    channel: Channel
    value: str | None
    """The normalised address; None for an invalid one (answered without a read)."""
    topic: Topic | None
    query: ConsentQuery | None
    """What decides it; None when nothing needs reading (an invalid address, an unknown
    topic)."""


class CheckService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def check(
        self, *, tenant_id: int, topic: str, channel: Channel, addresses: Sequence[str]
    ) -> list[CheckResult]:
        """The decision for each of `addresses`, in order.

        Invalid addresses and an unknown topic are answered, not raised: a sender checking
        a list wants a verdict per line (`invalid_address`, `unknown_topic`).
        """
        if len(addresses) > MAX_CHECK_BATCH:
            raise InvalidInput.of("addresses", f"must hold at most {MAX_CHECK_BATCH} addresses")
        check_storable(("topic", topic))
        tenant = self._ctx.tenant(tenant_id)
        keys = [self._key(tenant=tenant, channel=channel, raw=raw) for raw in addresses]
        return self._ctx.transactions.read(
            lambda uow: self._check(
                uow,
                tenant_id=tenant_id,
                topic_key=topic,
                channel=channel,
                inputs=addresses,
                keys=keys,
            )
        )

    def check_one(
        self, *, tenant_id: int, topic: str, channel: Channel, address: str
    ) -> CheckResult:
        """`check` of one address, with one read of the database: the hot path of every
        sender, asked before each message."""
        prepared = self.prepare_one(
            tenant_id=tenant_id, topic=topic, channel=channel, address=address
        )
        return self.check_each([prepared])[0]

    def prepare_one(
        self, *, tenant_id: int, topic: str, channel: Channel, address: str
    ) -> PreparedCheck:
        """`check_one` up to its read of the database (the address normalised and hashed,
        the topic found), raising what `check_one` raises; `check_each` answers it."""
        check_storable(("topic", topic))
        tenant = self._ctx.tenant(tenant_id)
        key = self._key(tenant=tenant, channel=channel, raw=address)
        if key is None:
            return PreparedCheck(input=address, channel=channel, value=None, topic=None, query=None)
        the_topic = self._ctx.topic(tenant_id, topic)
        query = None
        if the_topic is not None:
            query = ConsentQuery(
                tenant_id=tenant_id,
                channel=channel,
                value=key.value,
                address_hash=key.address_hash,
                topic_id=the_topic.id,
            )
        return PreparedCheck(
            input=address, channel=channel, value=key.value, topic=the_topic, query=query
        )

    def warm_up(self) -> None:
        """Make the reads of a single check once, for a key, tenant, topic and address that
        do not exist, before the process serves (decision 0039).

        Why: a process's first checks compiled every statement of a check (its API key,
        tenant, topic, and each size of `consents` answered together) and, on
        PostgreSQL, ran each unprepared for psycopg's first runs, all with the event loop
        blocked: about 30 ms of the first 100 ms of a worker under load, which was most of
        the checks' p99 in a 5 s run at 2,000/s. Nothing read is kept, so every check
        still reads the database as before.
        """
        self._ctx.transactions.read(
            lambda uow: (
                uow.api_keys.by_hash(""),
                uow.tenants.get(0),
                uow.topics.by_key(0, ""),
            )
        )
        self._ctx.transactions.lookup(lambda uow: uow.checks.warm_up())

    def check_each(self, checks: Sequence[PreparedCheck]) -> list[CheckResult]:
        """The answers of prepared single checks (of any tenants), in order, all read in
        one look-up: single checks that arrive together are answered together, and each
        read begins after its check arrived, so it sees every change committed before."""
        queries = [check.query for check in checks if check.query is not None]
        consents = iter(
            self._ctx.transactions.lookup(lambda uow: uow.checks.consents(queries))
            if queries
            else ()
        )
        results = []
        for check in checks:
            if check.value is None:
                results.append(
                    CheckResult(
                        input=check.input,
                        address=None,
                        allowed=False,
                        reason=Reason.INVALID_ADDRESS,
                    )
                )
                continue
            state, suppressed = (None, False) if check.query is None else next(consents)
            decision = decide(
                topic=check.topic, channel=check.channel, state=state, suppressed=suppressed
            )
            results.append(
                CheckResult(
                    input=check.input,
                    address=check.value,
                    allowed=decision.allowed,
                    reason=decision.reason,
                )
            )
        return results

    def check_list(
        self, *, tenant_id: int, topic: str, channel: Channel, lines: Iterable[str]
    ) -> Iterator[LineCheckResult]:
        """`check_list_chunks` of `lines` (one line each), line by line."""
        chunks = (f"{line.removesuffix(chr(10))}\n".encode() for line in lines)
        answered = self.check_list_chunks(
            tenant_id=tenant_id,
            topic=topic,
            channel=channel,
            chunks=chunks,
            encode=ListCheckChunk.results,
        )
        return chain.from_iterable(answered)

    def check_list_chunks(
        self,
        *,
        tenant_id: int,
        topic: str,
        channel: Channel,
        chunks: Iterable[bytes],
        encode: Callable[[ListCheckChunk], _T],
    ) -> Iterator[_T]:
        """The decision for each non-blank line of the UTF-8 text `chunks` make up, in
        order, as `check` answers it, however long the list: answered pieces of it, each
        as `encode` makes it (what the caller sends on), in the thread that answered it.

        The first piece is the first LIST_BATCH lines: normalised, and its suppressions
        and states read for its values, in one transaction. A list longer than that then
        reads the channel's every suppression and the topic's every state once, when each
        has at most WHOLE_READ_LIMIT, and answers the rest in pieces of megabytes, in
        columns (`list_checks`), PARALLEL at a time; past the limit each piece reads its
        own. Memory is bounded by a few pieces and those sets, not by the list. The tenant
        and the topic are read here, before the first line; InvalidInput names a line
        that is not UTF-8.
        """
        check_storable(("topic", topic))
        tenant = self._ctx.tenant(tenant_id)
        the_topic = self._ctx.topic(tenant_id, topic)
        texts = pieces(chunks, first_lines=LIST_BATCH)
        return self._check_pieces(
            texts, tenant=tenant, topic=the_topic, channel=channel, encode=encode
        )

    def _check_pieces(
        self,
        texts: Iterator[tuple[int, str]],
        *,
        tenant: Tenant,
        topic: Topic | None,
        channel: Channel,
        encode: Callable[[ListCheckChunk], _T],
    ) -> Iterator[_T]:
        decisions = _decisions(topic=topic, channel=channel)
        normalise = partial(normalise_piece, channel=channel, default_region=tenant.default_region)
        head = next(texts, None)
        if head is None:
            return
        if topic is None or head[1].count("\n") < LIST_BATCH:
            # An unknown topic, or a list of one piece: no whole set is read.
            read = self._lookup(
                tenant_id=tenant.id, topic=topic, channel=channel, whole=(None, None)
            )
            verdicts = Verdicts(decisions=decisions, lookup=read)
            for first, text in chain([head], texts):
                chunk = answer_piece(normalise(text, first=first), verdicts=verdicts)
                if len(chunk):
                    yield encode(chunk)
            return
        # A full first piece: more lines follow. The whole sets are read in a thread while
        # the first pieces are normalised; every piece is answered from them, PARALLEL
        # pieces at a time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="list-check") as pool:
            whole = pool.submit(
                self._whole_lookup, tenant_id=tenant.id, topic=topic, channel=channel
            )

            def answered(frame: pl.DataFrame) -> _T | None:
                verdicts = Verdicts(decisions=decisions, lookup=whole.result())
                return _encoded(answer_piece(frame, verdicts=verdicts), encode=encode)

            tasks = (
                partial(_normalised_and_answered, text, first, normalise, answered)
                for first, text in chain([head], texts)
            )
            for encoded in _in_order(tasks, workers=PARALLEL):
                if encoded is not None:
                    yield encoded

    def _whole_lookup(self, *, tenant_id: int, topic: Topic, channel: Channel) -> Lookup:
        """The lookup of the pieces after the first: from the whole sets where they are
        not too large (read in one transaction), otherwise read for each piece."""
        whole = self._read_whole(tenant_id=tenant_id, topic_id=topic.id, channel=channel)
        return self._lookup(tenant_id=tenant_id, topic=topic, channel=channel, whole=whole)

    def _read_whole(self, *, tenant_id: int, topic_id: int, channel: Channel) -> "_Whole":
        def read(uow: UnitOfWork) -> _Whole:
            checks = uow.checks
            return (
                checks.all_suppressed(tenant_id=tenant_id, channel=channel, limit=WHOLE_READ_LIMIT),
                checks.all_states(
                    tenant_id=tenant_id, channel=channel, topic_id=topic_id, limit=WHOLE_READ_LIMIT
                ),
            )

        return self._ctx.transactions.read(read)

    def _lookup(
        self, *, tenant_id: int, topic: Topic | None, channel: Channel, whole: "_Whole"
    ) -> Lookup:
        """How a piece's values are looked up: in `whole` where it has them, the rest read
        for the piece (in one transaction)."""
        if topic is None:
            return _nothing_found
        every_suppressed, every_state = whole
        hash_of = partial(self._ctx.hasher.address_hashes, tenant_id=tenant_id, channel=channel)
        known = None if every_suppressed is None else WholeSuppressions.of(every_suppressed)
        states = None if every_state is None else states_frame(every_state)
        if known is not None and states is not None:
            return lambda values: (known.flags(values, hash_of=hash_of), states)
        topic_id = topic.id

        def read(values: pl.Series) -> tuple[pl.Series, pl.DataFrame]:
            present = values.drop_nulls().to_list()
            hashes = dict(zip(present, hash_of(values=present), strict=True))

            def in_transaction(uow: UnitOfWork) -> tuple[pl.Series, pl.DataFrame]:
                if known is not None:
                    flags = known.flags(values, hash_of=hash_of)
                else:
                    found = uow.checks.suppressed_among(
                        tenant_id=tenant_id, channel=channel, hashes=set(hashes.values())
                    )
                    flags = pl.Series(
                        "suppressed",
                        [v is not None and hashes[v] in found for v in values.to_list()],
                        pl.Boolean,
                    )
                if states is not None:
                    return flags, states
                read_states = uow.checks.states_among(
                    tenant_id=tenant_id, channel=channel, topic_id=topic_id, values=hashes
                )
                return flags, states_frame(read_states)

            return self._ctx.transactions.read(in_transaction)

        return read

    def _check(
        self,
        uow: UnitOfWork,
        *,
        tenant_id: int,
        topic_key: str,
        channel: Channel,
        inputs: Sequence[str],
        keys: Sequence[AddressKey | None],
    ) -> list[CheckResult]:
        topic = uow.topics.by_key(tenant_id, topic_key)
        valid = [k for k in keys if k is not None]
        known = uow.addresses.find_many(
            tenant_id, channel, {k.value: k.address_hash for k in valid}
        )
        suppressed = uow.suppressions.suppressed(
            tenant_id, channel, {k.address_hash for k in valid}
        )
        states = uow.subscriptions.states(topic.id, [a.id for a in known.values()]) if topic else {}
        results = []
        for raw, key in zip(inputs, keys, strict=True):
            if key is None:
                results.append(
                    CheckResult(
                        input=raw, address=None, allowed=False, reason=Reason.INVALID_ADDRESS
                    )
                )
                continue
            address = known.get(key.value)
            decision = decide(
                topic=topic,
                channel=channel,
                state=states.get(address.id) if address else None,
                suppressed=key.address_hash in suppressed,
            )
            results.append(
                CheckResult(
                    input=raw, address=key.value, allowed=decision.allowed, reason=decision.reason
                )
            )
        return results

    def _key(self, *, tenant: Tenant, channel: Channel, raw: str) -> AddressKey | None:
        """The normalised, hashed address; None for an invalid one (a verdict, not an error)."""
        try:
            return self._ctx.address_key(tenant=tenant, channel=channel, raw=raw)
        except InvalidInput:
            return None


_Whole = tuple[SuppressedSet | None, dict[str, SubscriptionState] | None]
"""A channel's every suppressed hash and a topic's every state, where read whole."""


def _decisions(
    *, topic: Topic | None, channel: Channel
) -> dict[tuple[SubscriptionState | None, bool], Decision]:
    """`decide` for one topic and channel, for every (state, suppressed): a list of
    millions of lines has at most eight distinct answers."""
    return {
        (state, suppressed): decide(
            topic=topic, channel=channel, state=state, suppressed=suppressed
        )
        for state in (None, *SubscriptionState)
        for suppressed in (False, True)
    }


def _nothing_found(values: pl.Series) -> tuple[pl.Series, pl.DataFrame]:
    """An unknown topic's lookup: it blocks every line, so nothing needs reading."""
    return pl.Series("suppressed", [False] * len(values), pl.Boolean), states_frame({})


def _encoded(chunk: ListCheckChunk, *, encode: Callable[[ListCheckChunk], _T]) -> _T | None:
    """`encode` of `chunk`; None when it has no lines (a piece of blank lines)."""
    return encode(chunk) if len(chunk) else None


def _normalised_and_answered(
    text: str,
    first: int,
    normalise: Callable[..., pl.DataFrame],
    answer: Callable[[pl.DataFrame], _T | None],
) -> _T | None:
    return answer(normalise(text, first=first))


def _in_order(tasks: Iterable[Callable[[], _T]], *, workers: int) -> Iterator[_T]:
    """The result of each of `tasks`, in order, `workers` of them run at once: polars
    gives up the GIL, and answers one piece on about one core. The tasks are taken from
    `tasks` (read from the input) while the ones before run; an error in taking one
    comes after the results of those before it, as it would one at a time."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="list-piece") as pool:
        running: deque[Future[_T]] = deque()
        failure: Exception | None = None
        try:
            for task in tasks:
                running.append(pool.submit(task))
                if len(running) > workers:
                    yield running.popleft().result()
        except Exception as exc:  # raised again below, after the results before it
            failure = exc
        while running:
            yield running.popleft().result()
        if failure is not None:
            raise failure
