"""`/v1/topics`: what messages are about, and their consent rules."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from optledger.api.rest.auth import Admin, Checker
from optledger.api.rest.common import (
    After,
    Limit,
    decode_cursor,
    encode_cursor,
    idempotency_key,
    require_json,
    services,
)
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import problem_responses
from optledger.api.rest.schemas import CreateTopicIn, TopicOut, TopicPage

__all__ = ["router"]

router = APIRouter(route_class=DirectRoute, tags=["topics"])


@router.post(
    "/topics",
    operation_id="createTopic",
    summary="Create a topic",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json), Depends(idempotency_key)],
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
def create_topic(request: Request, principal: Admin, body: CreateTopicIn) -> TopicOut:
    """Create a topic. `409` if the tenant already has a topic with this key."""
    topic = services(request).topics.create_topic(
        tenant_id=principal.tenant_id,
        key=body.key,
        name=body.name,
        category=body.category,
        consent_mode=body.consent_mode,
        double_opt_in=body.double_opt_in,
        channels=body.channels,
        unsubscribable=body.unsubscribable,
    )
    return TopicOut.of(topic)


@router.get(
    "/topics",
    operation_id="listTopics",
    summary="List topics",
    responses=problem_responses(401, 403, 422),
)
def list_topics(
    request: Request, principal: Checker, limit: Limit = 100, after: After = None
) -> TopicPage:
    """The tenant's topics, ordered by key."""
    start = decode_cursor(after) if after is not None else ""
    topics = sorted(
        (t for t in services(request).topics.list_topics(tenant_id=principal.tenant_id)),
        key=lambda t: t.key,
    )
    page = [t for t in topics if t.key > start][: limit + 1]
    more = len(page) > limit
    return TopicPage(
        items=[TopicOut.of(t) for t in page[:limit]],
        next_cursor=encode_cursor(page[limit - 1].key) if more else None,
    )


@router.get(
    "/topics/{key}",
    operation_id="getTopic",
    summary="Get a topic",
    responses=problem_responses(401, 403, 404, 422),
)
def get_topic(
    request: Request,
    principal: Checker,
    key: Annotated[str, Path(max_length=100, description="The topic's key.", examples=["news"])],
) -> TopicOut:
    """One topic, by its key."""
    return TopicOut.of(services(request).topics.get_topic(tenant_id=principal.tenant_id, key=key))
