"""`/v1/checks`: may we send to this address (or these addresses) about this topic?"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from optledger.api.rest.auth import BulkChecker, Checker
from optledger.api.rest.common import idempotency_key, require_json, services
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import problem_responses
from optledger.api.rest.schemas import CheckBatchIn, CheckBatchOut, CheckOut, RawAddress, TopicKey
from optledger.domain.channels import Channel

__all__ = ["router"]

router = APIRouter(route_class=DirectRoute, tags=["checks"])


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
    # In the event loop: one indexed read costs less than a hand-off to the thread pool.
    result = services(request).checks.check_one(
        tenant_id=principal.tenant_id, topic=topic, channel=channel, address=address
    )
    return CheckOut.of(result)


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
