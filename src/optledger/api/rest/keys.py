"""`/v1/api-keys`: the tenant's API keys. Secrets are shown once, when a key is created."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from optledger.api.rest.auth import Admin
from optledger.api.rest.common import (
    After,
    Limit,
    decode_id_cursor,
    encode_cursor,
    idempotency_key,
    require_json,
    services,
)
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import problem_responses
from optledger.api.rest.schemas import (
    MAX_ROW_ID,
    ApiKeyOut,
    ApiKeyPage,
    CreatedKeyOut,
    CreateKeyIn,
)

__all__ = ["router"]

router = APIRouter(route_class=DirectRoute, tags=["api keys"])


@router.post(
    "/api-keys",
    operation_id="createApiKey",
    summary="Create an API key",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json), Depends(idempotency_key)],
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
def create_key(request: Request, principal: Admin, body: CreateKeyIn) -> CreatedKeyOut:
    """Create a key; its `secret` is in this response only."""
    created = services(request).tenants.create_key(
        tenant_id=principal.tenant_id, name=body.name, scope=body.scope
    )
    return CreatedKeyOut.of(created)


@router.get(
    "/api-keys",
    operation_id="listApiKeys",
    summary="List API keys",
    responses=problem_responses(401, 403, 422),
)
def list_keys(
    request: Request, principal: Admin, limit: Limit = 100, after: After = None
) -> ApiKeyPage:
    """The tenant's keys, revoked ones included, oldest first; never their secrets."""
    start = decode_id_cursor(after) if after is not None else 0
    keys = sorted(
        services(request).tenants.list_keys(tenant_id=principal.tenant_id), key=lambda k: k.id
    )
    page = [k for k in keys if k.id > start][: limit + 1]
    more = len(page) > limit
    return ApiKeyPage(
        items=[ApiKeyOut.of(k) for k in page[:limit]],
        next_cursor=encode_cursor(str(page[limit - 1].id)) if more else None,
    )


@router.delete(
    "/api-keys/{key_id}",
    operation_id="revokeApiKey",
    summary="Revoke an API key",
    responses=problem_responses(401, 403, 404, 422),
)
def revoke_key(
    request: Request,
    principal: Admin,
    key_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The key's `id`.", examples=[7])],
) -> ApiKeyOut:
    """Revoke a key at once; revoking it again changes nothing."""
    revoked = services(request).tenants.revoke_key(tenant_id=principal.tenant_id, key_id=key_id)
    return ApiKeyOut.of(revoked)
