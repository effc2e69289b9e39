"""Registering messages: each gets a uid, a one-click unsubscribe link and its headers."""

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from optledger.domain.channels import Channel, normalise_address
from optledger.domain.errors import Conflict, FieldError, InvalidInput
from optledger.domain.links import LinkClaims, list_unsubscribe_headers, unsubscribe_url
from optledger.domain.model import Message, Tenant, Topic
from optledger.domain.ports import UnitOfWork
from optledger.services.context import ServiceContext, ensure_address, require_tenant
from optledger.services.results import RegisteredMessage

__all__ = ["MAX_MESSAGE_BATCH", "MessageService", "MessageSpec"]

MAX_MESSAGE_BATCH = 1_000
_MESSAGE_UID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


@dataclass(frozen=True, slots=True)
class MessageSpec:
    channel: Channel
    address: str
    topic: str
    campaign: str | None = None
    message_uid: str | None = None
    """The sender's own id for the message; generated when absent."""


class MessageService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def register_messages(
        self, *, tenant_id: int, messages: Sequence[MessageSpec]
    ) -> list[RegisteredMessage]:
        """Register a batch of messages, all or none.

        Registering a uid again with the same address and topic returns the same message
        (safe to retry); with a different address or topic it is a Conflict.
        """
        if not messages:
            raise InvalidInput.of("messages", "must hold at least one message")
        if len(messages) > MAX_MESSAGE_BATCH:
            raise InvalidInput.of("messages", f"must hold at most {MAX_MESSAGE_BATCH} messages")

        def work(uow: UnitOfWork) -> list[RegisteredMessage]:
            tenant = require_tenant(uow, tenant_id)
            topics = _validate(uow, tenant=tenant, messages=messages)
            return [
                self._register(uow, tenant=tenant, spec=spec, topic=topics[spec.topic], index=i)
                for i, spec in enumerate(messages)
            ]

        return self._ctx.transactions.write(work)

    def _register(
        self, uow: UnitOfWork, *, tenant: Tenant, spec: MessageSpec, topic: Topic, index: int
    ) -> RegisteredMessage:
        address = ensure_address(
            uow, self._ctx, tenant=tenant, channel=spec.channel, raw=spec.address
        )
        uid = spec.message_uid or secrets.token_hex(12)
        message = uow.messages.by_uid(tenant.id, uid)
        if message is None:
            message = uow.messages.add(
                tenant_id=tenant.id,
                message_uid=uid,
                address_id=address.id,
                topic_id=topic.id,
                campaign=spec.campaign,
                created_at=self._ctx.clock.now(),
            )
        elif (message.address_id, message.topic_id) != (address.id, topic.id):
            raise Conflict(
                f"messages[{index}].message_uid: already registered for another address or topic"
            )
        return self._view(message, channel=spec.channel, address=address.value, topic=topic)

    def _view(
        self, message: Message, *, channel: Channel, address: str, topic: Topic
    ) -> RegisteredMessage:
        token = self._ctx.keyring.seal(
            LinkClaims(
                tenant_id=message.tenant_id,
                address_id=message.address_id,
                topic_id=message.topic_id,
                message_id=message.id,
                issued_at=message.created_at,
            )
        )
        url = unsubscribe_url(public_url=self._ctx.public_url, token=token)
        return RegisteredMessage(
            message_uid=message.message_uid,
            channel=channel,
            address=address,
            topic=topic.key,
            campaign=message.campaign,
            unsubscribe_url=url,
            headers=list_unsubscribe_headers(url=url),
        )


def _validate(
    uow: UnitOfWork, *, tenant: Tenant, messages: Sequence[MessageSpec]
) -> dict[str, Topic]:
    """Every problem of the batch at once, so a sender fixes them in one go."""
    errors: list[FieldError] = []
    topics: dict[str, Topic] = {}
    for index, spec in enumerate(messages):
        prefix = f"messages[{index}]"
        topic = topics.get(spec.topic) or uow.topics.by_key(tenant.id, spec.topic)
        if topic is None:
            errors.append(FieldError(f"{prefix}.topic", f"there is no topic {spec.topic!r}"))
        elif spec.channel not in topic.channels:
            errors.append(
                FieldError(
                    f"{prefix}.channel", f"topic {spec.topic!r} is not sent on {spec.channel}"
                )
            )
        else:
            topics[spec.topic] = topic
        try:
            normalise_address(
                channel=spec.channel,
                raw=spec.address,
                default_region=tenant.default_region,
                field=f"{prefix}.address",
            )
        except InvalidInput as exc:
            errors.extend(exc.errors)
        if spec.message_uid is not None and not _MESSAGE_UID.fullmatch(spec.message_uid):
            errors.append(
                FieldError(f"{prefix}.message_uid", "must be 1-100 letters, digits or '_.:-'")
            )
        if spec.campaign is not None and not 0 < len(spec.campaign) <= 200:
            errors.append(FieldError(f"{prefix}.campaign", "must be 1-200 characters"))
    if errors:
        raise InvalidInput(*errors)
    return topics
