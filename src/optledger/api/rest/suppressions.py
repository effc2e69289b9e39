"""`/v1/suppressions`: bulk import (CSV or NDJSON, streamed) and export (streamed).

The import body is never held whole: the synchronous service, running in a worker
thread, pulls the body's chunks from the connection through `_BodyChunks` as it checks
them (see `optledger.services.suppressions`), and keeps the valid rows in a temporary
file, not in memory. The size cap is enforced as the bytes arrive.
"""

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Annotated, Final

import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from optledger.api.rest.auth import Admin, BulkAdmin
from optledger.api.rest.common import Door, idempotency_key, services
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import UNSUPPORTED_MEDIA_TYPE, HttpProblem, problem_responses
from optledger.api.rest.media import media_type_and_charset
from optledger.api.rest.schemas import ImportReportOut
from optledger.services.suppressions import (
    ImportReport,
    SuppressionExport,
    SuppressionPage,
)

__all__ = ["EXPORT_COLUMNS", "MAX_IMPORT_BYTES", "router"]

MAX_IMPORT_BYTES: Final = 100 * 1024 * 1024
EXPORT_COLUMNS: Final = ("channel", "address", "address_hash", "reason", "created_at")
CSV: Final = "text/csv"
NDJSON: Final = "application/x-ndjson"
_PAGE_SIZE: Final = 1_000
_UTF8_CHARSETS: Final = frozenset({None, "utf-8", "utf8", "us-ascii"})
_IMPORT_BODY: Final = {
    "required": True,
    "content": {
        CSV: {"schema": {"type": "string"}},
        NDJSON: {"schema": {"type": "string"}},
    },
}
_EXPORT_CONTENT: Final = {
    CSV: {"schema": {"type": "string"}},
    NDJSON: {"schema": {"type": "string"}},
}

router = APIRouter(route_class=DirectRoute, tags=["suppressions"])


@router.post(
    "/suppressions/import",
    operation_id="importSuppressions",
    summary="Import suppressions from CSV or NDJSON",
    dependencies=[Depends(idempotency_key)],
    openapi_extra={"requestBody": _IMPORT_BODY},
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
async def import_suppressions(
    request: Request,
    principal: BulkAdmin,
    door: Door,
    skip_invalid: Annotated[
        bool,
        Query(
            description="Import the good rows and list the bad ones, instead of stopping.",
            examples=[False],
        ),
    ] = False,
) -> ImportReportOut:
    """Import suppressions from a `text/csv` or `application/x-ndjson` body of up to
    100 MiB. CSV has a header naming `email`, `phone`, or `channel` and `address`, and
    optionally `topic`, `reason`, `timestamp`; NDJSON objects use the same names. The body
    is checked first: at its first bad row the answer is `422` naming it
    (`errors[].field` is `line N: field`) and nothing is written, unless `skip_invalid`
    is set, which imports the good rows and lists the bad ones (the first 1,000; `skipped`
    counts them all). Then the rows are written in short batches, so opt-outs are never
    held up behind an import. An import that did not finish (`503`, a lost connection)
    can simply be sent again: it goes on after the rows already written (`resumed`)."""
    media_type, charset = media_type_and_charset(request.headers.get("content-type", ""))
    if charset not in _UTF8_CHARSETS:
        raise HttpProblem(UNSUPPORTED_MEDIA_TYPE, "The body must be UTF-8 text.")
    suppressions = services(request).suppressions
    importers: dict[str, Callable[..., ImportReport]] = {
        CSV: suppressions.import_csv,
        NDJSON: suppressions.import_ndjson,
    }
    importer = importers.get(media_type)
    if importer is None:
        raise HttpProblem(
            UNSUPPORTED_MEDIA_TYPE, "The body must be text/csv or application/x-ndjson."
        )
    report = await anyio.to_thread.run_sync(
        partial(
            importer,
            tenant_id=principal.tenant_id,
            chunks=_BodyChunks(request.stream()),
            skip_invalid=skip_invalid,
            provenance=door.provenance(None),
        )
    )
    return ImportReportOut.of(report)


@router.get(
    "/suppressions",
    operation_id="exportSuppressions",
    summary="Export every suppression",
    response_class=StreamingResponse,
    responses={
        200: {"description": "Every suppression of the tenant.", "content": _EXPORT_CONTENT},
        **problem_responses(401, 403),
    },
)
async def export_suppressions(request: Request, principal: Admin) -> StreamingResponse:
    """Every suppression, streamed as CSV (`channel,address,address_hash,reason,created_at`)
    or, with `Accept: application/x-ndjson`, as NDJSON objects with the same keys. The
    address is empty (null) where the person was erased; the keyed hash remains."""
    export_page = partial(services(request).suppressions.export_page, tenant_id=principal.tenant_id)
    first = await anyio.to_thread.run_sync(partial(export_page, limit=_PAGE_SIZE))
    pages = _pages(first, fetch=lambda cursor: export_page(after=cursor, limit=_PAGE_SIZE))
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_ndjson(pages), media_type=NDJSON)
    return StreamingResponse(_csv(pages), media_type=f"{CSV}; charset=utf-8")


async def _pages(
    first: SuppressionPage, *, fetch: Callable[[tuple[str, str]], SuppressionPage]
) -> AsyncIterator[tuple[SuppressionExport, ...]]:
    page = first
    while True:
        yield page.rows
        if page.next_cursor is None:
            return
        page = await anyio.to_thread.run_sync(fetch, page.next_cursor)


async def _csv(pages: AsyncIterator[tuple[SuppressionExport, ...]]) -> AsyncIterator[str]:
    yield _csv_text([EXPORT_COLUMNS])
    async for rows in pages:
        yield _csv_text(
            (r.channel.value, r.address or "", r.address_hash, r.reason, r.created_at.isoformat())
            for r in rows
        )


def _csv_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


async def _ndjson(pages: AsyncIterator[tuple[SuppressionExport, ...]]) -> AsyncIterator[str]:
    async for rows in pages:
        yield "".join(
            json.dumps(
                {
                    "channel": r.channel.value,
                    "address": r.address,
                    "address_hash": r.address_hash,
                    "reason": r.reason,
                    "created_at": r.created_at.isoformat(),
                },
                ensure_ascii=False,
            )
            + "\n"
            for r in rows
        )


class _BodyChunks:
    """The request body's chunks, for a worker thread.

    Each chunk is awaited on the event loop through `anyio.from_thread.run`, so the body
    is read only as fast as the service consumes it.
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def _next_chunk(self) -> bytes | None:
        return await anext(self._chunks, None)

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := anyio.from_thread.run(self._next_chunk)) is not None:
            yield chunk
