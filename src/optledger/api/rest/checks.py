"""`/v1/checks`: may we send to this address (or these addresses, or this list) about
this topic?"""

import asyncio
import codecs
from collections.abc import AsyncIterator, Iterator
from functools import partial
from tempfile import SpooledTemporaryFile
from typing import IO, Annotated, Final

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from optledger.api.rest.auth import BulkChecker, Checker
from optledger.api.rest.common import idempotency_key, require_json, services
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import UNSUPPORTED_MEDIA_TYPE, HttpProblem, problem_responses
from optledger.api.rest.media import media_type_and_charset
from optledger.api.rest.schemas import CheckBatchIn, CheckBatchOut, CheckOut, RawAddress, TopicKey
from optledger.domain.channels import Channel
from optledger.domain.errors import InvalidInput
from optledger.services.checks import CheckService, PreparedCheck
from optledger.services.list_checks import COLUMNS, ListCheckChunk
from optledger.services.results import CheckResult

__all__ = ["MAX_LIST_BYTES", "ChecksTogether", "router"]

MAX_LIST_BYTES: Final = 512 * 1024 * 1024
"""The most a list may hold: about 20,000,000 addresses of 25 characters."""
NDJSON: Final = "application/x-ndjson"
CSV: Final = "text/csv"
_TEXT: Final = "text/plain"
_UTF8_CHARSETS: Final = frozenset({None, "utf-8", "utf8", "us-ascii"})
_SPOOL_IN_MEMORY: Final = 1024 * 1024
_READ_SIZE: Final = 1024 * 1024
_LIST_BODY: Final = {
    "required": True,
    "content": {
        _TEXT: {
            "schema": {"type": "string"},
            "example": "ann@example.com\nBob@Example.com\nnot-an-address\n",
        }
    },
}
_LIST_ANSWER: Final = {
    NDJSON: {
        "schema": {"type": "string"},
        "example": '{"line":1,"input":"ann@example.com","address":"ann@example.com",'
        '"allowed":true,"reason":"opt_out_default"}\n',
    },
    CSV: {
        "schema": {"type": "string"},
        "example": "line,input,address,allowed,reason\n"
        "1,ann@example.com,ann@example.com,true,opt_out_default\n",
    },
}

router = APIRouter(route_class=DirectRoute, tags=["checks"])
TopicQuery = Annotated[
    TopicKey, Query(description="The key of the topic the message is about.", examples=["news"])
]
ChannelQuery = Annotated[
    Channel, Query(description="The channel the message goes out on.", examples=["email"])
]


class ChecksTogether:
    """Answers the single checks that reach one turn of the event loop with one look-up
    (decision 0024).

    Why: a check's read is one indexed statement, cheaper run in the event loop than
    handed to a thread, but on PostgreSQL it is a network round trip during which the
    loop waits. Under load many checks are ready in the same turn: the first schedules
    `_answer` for the end of the turn, the others join it, and their statements go to the
    server in one pipeline. A lone check waits for nothing but its own read. Every read
    begins after its request arrived, so it sees every opt-out committed before that, in
    any process; nothing about consent is kept in the process.
    """

    def __init__(self, checks: CheckService) -> None:
        self._checks = checks
        self._waiting: dict[
            asyncio.AbstractEventLoop, list[tuple[PreparedCheck, asyncio.Future[CheckResult]]]
        ] = {}

    async def answer(self, check: PreparedCheck) -> CheckResult:
        """The answer to `check`, read with the others of this turn of the loop."""
        if check.query is None:
            return self._checks.check_each([check])[0]
        loop = asyncio.get_running_loop()
        waiting = self._waiting.get(loop)
        if waiting is None:
            waiting = self._waiting[loop] = []
            loop.call_soon(self._answer, loop)
        future: asyncio.Future[CheckResult] = loop.create_future()
        waiting.append((check, future))
        return await future

    def _answer(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = self._waiting.pop(loop)
        try:
            results = self._checks.check_each([check for check, _ in waiting])
        except Exception as exc:  # each caller gets the error of the read
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(waiting, results, strict=True):
            if not future.done():
                future.set_result(result)


@router.get(
    "/checks",
    operation_id="checkAddress",
    summary="May we send to this address?",
    responses=problem_responses(401, 403, 422),
)
async def check_one(
    request: Request,
    principal: Checker,
    topic: TopicQuery,
    channel: ChannelQuery,
    address: Annotated[
        RawAddress,
        Query(description="The recipient, as you have it.", examples=["ann@example.com"]),
    ],
) -> CheckOut:
    """The decision for one address. An invalid address or an unknown topic is a
    decision (`invalid_address`, `unknown_topic`), not an error."""
    checks = services(request).checks
    prepared = checks.prepare_one(
        tenant_id=principal.tenant_id, topic=topic, channel=channel, address=address
    )
    together: ChecksTogether = request.app.state.checks_together
    return CheckOut.of(await together.answer(prepared))


@router.post(
    "/checks",
    operation_id="checkAddresses",
    summary="May we send to these addresses?",
    dependencies=[Depends(require_json), Depends(idempotency_key)],
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
def check_many(request: Request, principal: BulkChecker, body: CheckBatchIn) -> CheckBatchOut:
    """The decision for each of up to 10,000 addresses, in order."""
    results = services(request).checks.check(
        tenant_id=principal.tenant_id,
        topic=body.topic,
        channel=body.channel,
        addresses=body.addresses,
    )
    return CheckBatchOut(results=[CheckOut.of(r) for r in results])


@router.post(
    "/checks/list",
    operation_id="checkList",
    summary="May we send to each address of this list?",
    response_class=StreamingResponse,
    openapi_extra={"requestBody": _LIST_BODY},
    responses={
        200: {
            "description": "A decision for each non-blank line, in order.",
            "content": _LIST_ANSWER,
        },
        **problem_responses(401, 403, 413, 415, 422),
    },
)
async def check_list(
    request: Request,
    principal: BulkChecker,
    topic: TopicQuery,
    channel: ChannelQuery,
) -> StreamingResponse:
    """The decision for each non-blank line of a `text/plain` UTF-8 body of up to 512 MiB,
    one address a line, as `GET /v1/checks` answers it; streamed as NDJSON objects
    (`line`, `input`, `address`, `allowed`, `reason`) or, with `Accept: text/csv`, as CSV
    rows with those columns. The body is read whole before the first answer, so a line
    that is not UTF-8 is a `422` naming it (`errors[].field` is `line N`). A list check
    changes nothing: it takes no `Idempotency-Key` (one sent is ignored) and a retry is
    simply answered again."""
    media_type, charset = media_type_and_charset(request.headers.get("content-type", ""))
    if media_type != _TEXT or charset not in _UTF8_CHARSETS:
        raise HttpProblem(UNSUPPORTED_MEDIA_TYPE, "The body must be text/plain in UTF-8.")
    as_csv = CSV in request.headers.get("accept", "") and NDJSON not in request.headers.get(
        "accept", ""
    )
    body = await _spooled(request.stream())
    try:
        await anyio.to_thread.run_sync(_check_utf8, body)
        answered = services(request).checks.check_list_chunks(
            tenant_id=principal.tenant_id,
            topic=topic,
            channel=channel,
            chunks=_blocks(body),
            encode=_csv_rows if as_csv else ListCheckChunk.ndjson,
        )
    except BaseException:
        body.close()
        raise
    answers = _answers(answered, body=body, as_csv=as_csv)
    if as_csv:
        return StreamingResponse(answers, media_type=f"{CSV}; charset=utf-8")
    return StreamingResponse(answers, media_type=NDJSON)


async def _spooled(chunks: AsyncIterator[bytes]) -> IO[bytes]:
    """The whole body, in memory up to 1 MiB and in a temporary file beyond (the body
    limit caps it as it arrives)."""
    spool: IO[bytes] = SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        async for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def _check_utf8(body: IO[bytes]) -> None:
    """InvalidInput naming the first line of `body` that is not UTF-8; then rewound."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    for block in _blocks(body):
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            number = lines + 1 + block.count(b"\n", 0, max(exc.start, 0))
            raise InvalidInput.of(f"line {number}", "is not UTF-8 text") from None
        lines += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InvalidInput.of(f"line {lines + 1}", "is not UTF-8 text") from None
    body.seek(0)


def _blocks(body: IO[bytes]) -> Iterator[bytes]:
    while block := body.read(_READ_SIZE):
        yield block


def _csv_rows(chunk: ListCheckChunk) -> bytes:
    return chunk.csv(header=False)


async def _answers(
    answered: Iterator[bytes], *, body: IO[bytes], as_csv: bool
) -> AsyncIterator[bytes]:
    """Each answered piece, encoded (where it was answered, off the event loop)."""
    with body:
        if as_csv:
            yield (",".join(COLUMNS) + "\n").encode()
        while (chunk := await anyio.to_thread.run_sync(partial(next, answered, None))) is not None:
            yield chunk
