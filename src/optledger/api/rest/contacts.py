"""`/v1/contacts` and `/v1/addresses`: consent history, export and erasure of a person."""

import re
from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from optledger.api.rest.auth import Admin, Writer
from optledger.api.rest.common import (
    After,
    Door,
    Limit,
    decode_id_cursor,
    encode_cursor,
    services,
)
from optledger.api.rest.direct import DirectRoute
from optledger.api.rest.errors import problem_responses
from optledger.api.rest.schemas import (
    ContactExportOut,
    ErasedOut,
    EventOut,
    EventPage,
    ExternalId,
    RawAddress,
)
from optledger.domain.channels import Channel
from optledger.domain.model import Action
from optledger.services.contacts import HistoryPage, HistoryQuery

__all__ = ["router"]

router = APIRouter(route_class=DirectRoute, tags=["contacts"])

_DATE_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time_text(value: object) -> object:
    """Only RFC 3339 date-times, as the document says (`format: date-time`): pydantic
    alone would also take `0.5` or `1767225600` as seconds since 1970."""
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise PydanticCustomError(
            "date_time", "must be an RFC 3339 date-time (2026-01-05T09:30:00Z)"
        )
    return value


DateTime = Annotated[datetime, BeforeValidator(_date_time_text)]

ContactId = Annotated[
    ExternalId, Path(description="The tenant's own id for the person.", examples=["user-42"])
]


class HistoryFilters:
    """The filters and the page both history routes take."""

    def __init__(
        self,
        *,
        since: Annotated[
            DateTime | None,
            Query(
                description="Only events at or after this time (an offset-less time is UTC).",
                examples=["2026-01-01T00:00:00Z"],
            ),
        ] = None,
        until: Annotated[
            DateTime | None,
            Query(
                description="Only events before this time (an offset-less time is UTC).",
                examples=["2026-02-01T00:00:00Z"],
            ),
        ] = None,
        via: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=50,
                description="Only events that came through this door (`api`, `one_click`, ...).",
                examples=["one_click"],
            ),
        ] = None,
        action: Annotated[
            Action | None,
            Query(description="Only events of this action.", examples=["unsubscribe"]),
        ] = None,
        limit: Limit = 100,
        after: After = None,
    ) -> None:
        self.since = _utc(since)
        self.until = _utc(until)
        self.via = via
        self.action = action
        self.limit = limit
        self.after = decode_id_cursor(after) if after is not None else 0

    def query(
        self,
        *,
        contact: str | None = None,
        channel: Channel | None = None,
        address: str | None = None,
    ) -> HistoryQuery:
        return HistoryQuery(
            contact=contact,
            channel=channel,
            address=address,
            since=self.since,
            until=self.until,
            via=self.via,
            action=self.action,
            after=self.after,
            limit=self.limit,
        )


Filters = Annotated[HistoryFilters, Depends()]


@router.get(
    "/contacts/{external_id}/history",
    operation_id="getContactHistory",
    summary="A contact's consent history",
    responses=problem_responses(401, 403, 404, 422),
)
def contact_history(
    request: Request, principal: Writer, external_id: ContactId, filters: Filters
) -> EventPage:
    """The consent events of a contact's addresses, oldest first."""
    page = services(request).contacts.history(
        tenant_id=principal.tenant_id, query=filters.query(contact=external_id)
    )
    return _page(page)


@router.get(
    "/addresses/history",
    operation_id="getAddressHistory",
    summary="An address's consent history",
    responses=problem_responses(401, 403, 422),
)
def address_history(
    request: Request,
    principal: Writer,
    channel: Annotated[
        Channel, Query(description="The channel the address is on.", examples=["email"])
    ],
    address: Annotated[
        RawAddress, Query(description="The address, as you have it.", examples=["ann@example.com"])
    ],
    filters: Filters,
) -> EventPage:
    """The consent events of one address, oldest first (also after its owner was erased)."""
    page = services(request).contacts.history(
        tenant_id=principal.tenant_id, query=filters.query(channel=channel, address=address)
    )
    return _page(page)


@router.get(
    "/contacts/{external_id}",
    operation_id="exportContact",
    summary="Export everything about a contact",
    responses=problem_responses(401, 403, 404, 422),
)
def export_contact(request: Request, principal: Admin, external_id: ContactId) -> ContactExportOut:
    """Everything optledger holds about the contact (GDPR Art. 15 and 20)."""
    export = services(request).contacts.export_contact(
        tenant_id=principal.tenant_id, external_id=external_id
    )
    return ContactExportOut.of(export)


@router.delete(
    "/contacts/{external_id}",
    operation_id="eraseContact",
    summary="Erase a contact",
    responses=problem_responses(401, 403, 404, 422),
)
def erase_contact(
    request: Request, principal: Admin, door: Door, external_id: ContactId
) -> ErasedOut:
    """Erase the contact's personal data. Its addresses stay suppressed by keyed hash, so
    the person is never contacted again."""
    erased = services(request).contacts.erase_contact(
        tenant_id=principal.tenant_id, external_id=external_id, provenance=door.provenance(None)
    )
    return ErasedOut(erased_addresses=erased)


def _page(page: HistoryPage) -> EventPage:
    cursor = page.next_cursor
    return EventPage(
        items=[EventOut.of(e) for e in page.events],
        next_cursor=encode_cursor(str(cursor)) if cursor is not None else None,
    )


def _utc(moment: datetime | None) -> datetime | None:
    """A time without an offset is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
