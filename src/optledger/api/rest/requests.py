"""`/v1/unsubscribe-requests`: leave now, and take it back during the grace period."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from optledger.api.rest.auth import Checker, Writer
from optledger.api.rest.common import Door, idempotency_key, require_json, services
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import problem_responses
from optledger.api.rest.schemas import MAX_ROW_ID, CancelIn, RequestOut, UnsubscribeRequestIn

__all__ = ["router"]

router = APIRouter(route_class=DirectRoute, tags=["unsubscribe requests"])

RequestId = Annotated[
    int, Path(ge=1, le=MAX_ROW_ID, description="The request's `id`.", examples=[31])
]


@router.post(
    "/unsubscribe-requests",
    operation_id="createUnsubscribeRequest",
    summary="Request to leave, cancellable for a grace period",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json), Depends(idempotency_key)],
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
def request_unsubscribe(
    request: Request, principal: Writer, door: Door, body: UnsubscribeRequestIn
) -> RequestOut:
    """Unsubscribe the target now and open a request that stays `pending`, and can be
    cancelled, until its `effective_at`."""
    view = services(request).requests.request_unsubscribe(
        tenant_id=principal.tenant_id,
        target=body.target(),
        topics=body.topics,
        provenance=door.provenance(body),
    )
    return RequestOut.of(view)


@router.get(
    "/unsubscribe-requests/{request_id}",
    operation_id="getUnsubscribeRequest",
    summary="Get an unsubscribe request",
    responses=problem_responses(401, 403, 404, 422),
)
def get_request(request: Request, principal: Checker, request_id: RequestId) -> RequestOut:
    """The request's state (its `changes` are empty here)."""
    view = services(request).requests.get_request(
        tenant_id=principal.tenant_id, request_id=request_id
    )
    return RequestOut.of(view)


@router.post(
    "/unsubscribe-requests/{request_id}/cancel",
    operation_id="cancelUnsubscribeRequest",
    summary="Cancel a pending unsubscribe request",
    dependencies=[Depends(require_json), Depends(idempotency_key)],
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
def cancel_request(
    request: Request,
    principal: Writer,
    door: Door,
    request_id: RequestId,
    body: CancelIn | None = None,
) -> RequestOut:
    """Take a pending request back, reverting what it changed; `409` once it is no longer
    pending. The body (provenance only) is optional."""
    view = services(request).requests.cancel_request(
        tenant_id=principal.tenant_id, request_id=request_id, provenance=door.provenance(body)
    )
    return RequestOut.of(view)
