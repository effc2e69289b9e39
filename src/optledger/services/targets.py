"""Whom a consent change is about: an address, a contact, or the recipient of a message."""

from dataclasses import dataclass

from optledger.domain.channels import Channel

__all__ = ["AddressTarget", "ContactTarget", "MessageTarget", "Target"]


@dataclass(frozen=True, slots=True)
class AddressTarget:
    channel: Channel
    address: str
    """As the caller wrote it; normalised by the service."""


@dataclass(frozen=True, slots=True)
class ContactTarget:
    external_id: str
    channel: Channel | None = None
    """Only this channel's addresses; None for all of the contact's addresses."""


@dataclass(frozen=True, slots=True)
class MessageTarget:
    """The address a registered message went to; the change is attributed to the message."""

    message_uid: str


Target = AddressTarget | ContactTarget | MessageTarget
