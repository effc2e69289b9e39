"""`/v1/subscriptions`, `/v1/unsubscribe`, `/v1/resubscribe`: consent changes, at once."""

from fastapi import APIRouter, Depends, Request

from optledger.api.completions import LoopCompletion
from optledger.api.rest.auth import Writer
from optledger.api.rest.common import Door, idempotency_key, require_json, services
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import problem_responses
from optledger.api.rest.schemas import (
    ChangeOut,
    ChangesOut,
    ConfirmIn,
    ConfirmOut,
    ResubscribeIn,
    SubscribeIn,
    SubscribeOut,
    UnsubscribeIn,
)
from optledger.services.results import ChangeResult

__all__ = ["router"]

router = APIRouter(
    route_class=DirectRoute,
    tags=["subscriptions"],
    dependencies=[Depends(require_json), Depends(idempotency_key)],
)


@router.post(
    "/subscriptions",
    operation_id="subscribe",
    summary="Subscribe an address to a topic",
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
def subscribe(request: Request, principal: Writer, door: Door, body: SubscribeIn) -> SubscribeOut:
    """Subscribe an address to a topic. A double opt-in topic leaves it `pending` and
    returns the `confirmation_token` to send to the person."""
    result = services(request).subscriptions.subscribe(
        tenant_id=principal.tenant_id,
        channel=body.channel,
        address=body.address,
        topic=body.topic,
        contact=body.contact,
        provenance=door.provenance(body),
    )
    return SubscribeOut.of(result)


@router.post(
    "/subscriptions/confirm",
    operation_id="confirmSubscription",
    summary="Confirm a double opt-in",
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
def confirm(request: Request, principal: Writer, door: Door, body: ConfirmIn) -> ConfirmOut:
    """Complete a double opt-in with its token; confirming again is `repeated`."""
    change = services(request).subscriptions.confirm(
        token=body.token, tenant_id=principal.tenant_id, provenance=door.provenance(body)
    )
    return ConfirmOut(change=ChangeOut.of(change))


@router.post(
    "/unsubscribe",
    operation_id="unsubscribe",
    summary="Unsubscribe from topics, or from everything",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
async def unsubscribe(
    request: Request, principal: Writer, door: Door, body: UnsubscribeIn
) -> ChangesOut:
    """Unsubscribe the target from `topics`, or from everything when `topics` is omitted
    or null. Repeating it succeeds, with outcome `repeated`. `404` for an unknown contact
    or message; `403` for a topic that cannot be unsubscribed from."""
    committed: LoopCompletion[ChangeResult] = LoopCompletion()
    services(request).subscriptions.submit_unsubscribe(
        tenant_id=principal.tenant_id,
        target=body.target(),
        topics=body.topics,
        notify=body.notify,
        provenance=door.provenance(body),
        completion=committed,
    )
    result = await committed
    return ChangesOut.of(result.changes)


@router.post(
    "/resubscribe",
    operation_id="resubscribe",
    summary="Subscribe again, or lift a suppression",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
def resubscribe(request: Request, principal: Writer, door: Door, body: ResubscribeIn) -> ChangesOut:
    """Subscribe the target to `topics` again, or lift its suppression when `topics` is
    omitted or null."""
    result = services(request).subscriptions.resubscribe(
        tenant_id=principal.tenant_id,
        target=body.target(),
        topics=body.topics,
        provenance=door.provenance(body),
    )
    return ChangesOut.of(result.changes)
