"""Registering messages: each gets a uid, a one-click unsubscribe link and its headers."""

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from optledger.domain.channels import Channel
from optledger.domain.errors import Conflict, FieldError, InvalidInput
from optledger.domain.links import LinkClaims, list_unsubscribe_headers, unsubscribe_url
from optledger.domain.model import Message, Tenant, Topic
from optledger.domain.ports import UnitOfWork
from optledger.services.context import AddressKey, ServiceContext, ensure_address
from optledger.services.results import RegisteredMessage
from optledger.services.validation import storable_errors

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


@dataclass(frozen=True, slots=True)
class _Prepared:
    spec: MessageSpec
    topic: Topic
    key: AddressKey


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

        tenant = self._ctx.tenant(tenant_id)
        topics = self._ctx.transactions.read(lambda uow: uow.topics.of_tenant(tenant_id))
        prepared = self._prepare(tenant=tenant, topics=topics, messages=messages)

        def work(uow: UnitOfWork) -> list[Message]:
            return [self._register(uow, item=item, index=i) for i, item in enumerate(prepared)]

        stored = self._ctx.transactions.write(work)
        return [
            self._view(message, key=item.key, topic=item.topic)
            for message, item in zip(stored, prepared, strict=True)
        ]

    def _prepare(
        self, *, tenant: Tenant, topics: Sequence[Topic], messages: Sequence[MessageSpec]
    ) -> list[_Prepared]:
        """Every problem of the batch at once, so a sender fixes them in one go."""
        by_key = {t.key: t for t in topics}
        errors: list[FieldError] = []
        prepared: list[_Prepared] = []
        for index, spec in enumerate(messages):
            prefix = f"messages[{index}]"
            topic = by_key.get(spec.topic)
            if topic is None:
                errors.append(FieldError(f"{prefix}.topic", f"there is no topic {spec.topic!r}"))
            elif spec.channel not in topic.channels:
                reason = f"topic {spec.topic!r} is not sent on {spec.channel}"
                errors.append(FieldError(f"{prefix}.channel", reason))
            key: AddressKey | None = None
            try:
                key = self._ctx.address_key(
                    tenant=tenant, channel=spec.channel, raw=spec.address, field=f"{prefix}.address"
                )
            except InvalidInput as exc:
                errors.extend(exc.errors)
            errors.extend(_check_spec(spec, prefix=prefix))
            if topic is not None and key is not None:
                prepared.append(_Prepared(spec=spec, topic=topic, key=key))
        if errors:
            raise InvalidInput(*errors)
        return prepared

    def _register(self, uow: UnitOfWork, *, item: _Prepared, index: int) -> Message:
        tenant_id = item.topic.tenant_id
        address = ensure_address(uow, self._ctx, tenant_id=tenant_id, key=item.key)
        uid = item.spec.message_uid or secrets.token_hex(12)
        message = uow.messages.by_uid(tenant_id, uid)
        if message is None:
            return uow.messages.add(
                tenant_id=tenant_id,
                message_uid=uid,
                address_id=address.id,
                topic_id=item.topic.id,
                campaign=item.spec.campaign,
                created_at=self._ctx.clock.now(),
            )
        if (message.address_id, message.topic_id) != (address.id, item.topic.id):
            raise Conflict(
                f"messages[{index}].message_uid: already registered for another address or topic"
            )
        return message

    def _view(self, message: Message, *, key: AddressKey, topic: Topic) -> RegisteredMessage:
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
            channel=key.channel,
            address=key.value,
            topic=topic.key,
            campaign=message.campaign,
            unsubscribe_url=url,
            headers=list_unsubscribe_headers(url=url)
            if key.channel is Channel.EMAIL and topic.unsubscribable
            else None,
        )


def _check_spec(spec: MessageSpec, *, prefix: str) -> list[FieldError]:
    errors = []
    if spec.message_uid is not None and not _MESSAGE_UID.fullmatch(spec.message_uid):
        errors.append(
            FieldError(f"{prefix}.message_uid", "must be 1-100 letters, digits or '_.:-'")
        )
    if spec.campaign is not None and not 0 < len(spec.campaign) <= 200:
        errors.append(FieldError(f"{prefix}.campaign", "must be 1-200 characters"))
    errors.extend(storable_errors([(f"{prefix}.campaign", spec.campaign)]))
    return errors
