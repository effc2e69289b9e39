"""`/v1/messages`: register sends, and get their unsubscribe links and headers."""

from fastapi import APIRouter, Depends, Request, status

from optledger.api.rest.auth import Writer
from optledger.api.rest.common import idempotency_key, require_json, services
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import problem_responses
from optledger.api.rest.schemas import MessageOut, MessagesIn, MessagesOut

__all__ = ["router"]

router = APIRouter(route_class=DirectRoute, tags=["messages"])


@router.post(
    "/messages",
    operation_id="registerMessages",
    summary="Register messages and get their unsubscribe links",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json), Depends(idempotency_key)],
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
def register_messages(request: Request, principal: Writer, body: MessagesIn) -> MessagesOut:
    """Register up to 1,000 messages, all or none. Each gets a `message_uid` (yours, or a
    generated one), its one-click `unsubscribe_url` and the `List-Unsubscribe` headers.
    Registering a uid again with the same address and topic returns the same message;
    with another address or topic it is a `409`."""
    registered = services(request).messages.register_messages(
        tenant_id=principal.tenant_id, messages=[m.spec() for m in body.messages]
    )
    return MessagesOut(messages=[MessageOut.of(m) for m in registered])
