"""`/v1/checks`: may we send to this address (or these addresses) about this topic?"""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from optledger.api.rest.auth import BulkChecker, Checker
from optledger.api.rest.common import idempotency_key, require_json, services
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import problem_responses
from optledger.api.rest.schemas import CheckBatchIn, CheckBatchOut, CheckOut, RawAddress, TopicKey
from optledger.domain.channels import Channel
from optledger.services.checks import CheckService, PreparedCheck
from optledger.services.results import CheckResult

__all__ = ["ChecksTogether", "router"]

router = APIRouter(route_class=DirectRoute, tags=["checks"])


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
    topic: Annotated[
        TopicKey, Query(description="The key of the topic the message is about.", examples=["news"])
    ],
    channel: Annotated[
        Channel, Query(description="The channel the message goes out on.", examples=["email"])
    ],
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
