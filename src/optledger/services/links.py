"""What a person can do through the link in a message, with no account and no login.

The link's token is the person's only credential: it names the tenant, the address, the
topic (or every topic) and the message. Every use case here opens it first. A token that
cannot be used, whatever the reason (tampered, truncated, expired, sealed with a retired
key, or naming something that no longer exists in its tenant), is InvalidLinkToken, the
same error for every reason, so a forger learns nothing from the answer.

Reading a link (`page`, `preferences`) never changes consent: mail scanners fetch every
link they see. Only the explicit actions (`one_click`, `leave`, `save_preferences`,
`undo`) write, and the doors expose those on POST only.

A link can stop everything, but it lifts only a suppression the person made themselves
(`optledger.domain.suppressions`): whoever holds a message, a forwarded one too, must
never lift a complaint, a bounce or the operator's suppression. Those are shown as
stopped, with no way back from the pages.
"""

import hmac
from collections.abc import Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from optledger.domain.channels import Channel, mask_address
from optledger.domain.errors import Conflict, Forbidden, InvalidInput, InvalidLinkToken, NotFound
from optledger.domain.links import LinkClaims
from optledger.domain.model import (
    Action,
    Address,
    Category,
    ConsentEvent,
    Message,
    Outcome,
    Provenance,
    Subscription,
    SubscriptionState,
    Suppression,
    Tenant,
    Topic,
)
from optledger.domain.policy import decide
from optledger.domain.ports import Completion, UnitOfWork
from optledger.domain.suppressions import UNSUBSCRIBED, suppression_origin
from optledger.services.context import (
    Attribution,
    ServiceContext,
    change_of,
    keep_the_stronger_origin,
    notice_of,
    set_suppressed,
    set_topic_state,
    suppression_event,
    suppression_of,
    topic_state_event,
)
from optledger.services.results import Change
from optledger.services.validation import check_provenance

__all__ = [
    "FORM_TOKEN_LIFETIME",
    "Branding",
    "ChannelPreferences",
    "LeaveScope",
    "LinkPage",
    "LinkService",
    "LinkTopic",
    "OneClick",
    "PreferenceCentre",
    "TopicToggle",
]

FORM_TOKEN_LIFETIME: Final = timedelta(hours=24)
"""How long a rendered page's forms can be submitted."""


class LeaveScope(StrEnum):
    TOPIC = "topic"
    """The topic the link was sent about."""
    EVERYTHING = "everything"
    """Every marketing topic on the address's channel (a suppression)."""


@dataclass(frozen=True, slots=True)
class Branding:
    name: str
    accent_color: str | None
    logo: bytes | None
    logo_type: str | None


@dataclass(frozen=True, slots=True)
class LinkTopic:
    key: str
    name: str
    category: Category
    can_leave: bool
    """False for a transactional topic that may not be unsubscribed from."""


@dataclass(frozen=True, slots=True)
class LinkPage:
    """What the landing page of a link shows: who is asking, for which address, and where
    that address stands now."""

    branding: Branding
    default_locale: str
    """The tenant's default language."""
    contact_locale: str | None
    """The language stored for the person, if the tenant told us."""
    channel: Channel
    masked_address: str
    topic: LinkTopic | None
    """None: the link was issued for every topic."""
    topic_left: bool
    """The address has unsubscribed from `topic`."""
    stopped: bool
    """Everything (but service messages) to the address is stopped, whoever stopped it."""
    stopped_by_person: bool
    """The person stopped it themselves, so the page may say so and offer to undo it.
    False when nothing is stopped."""
    undo_topic_until: datetime | None
    """Until when leaving `topic` can be undone from the page; None if it cannot."""
    undo_everything_until: datetime | None
    """Until when stopping everything can be undone from the page; None if it cannot
    (always None for a suppression the person did not make)."""


@dataclass(frozen=True, slots=True)
class TopicToggle:
    field: str
    """The form field that carries this toggle."""
    topic: LinkTopic
    on: bool
    """The person gets this topic on this address: the effective state, so off for every
    marketing topic while the address is stopped."""
    editable: bool
    stopped: bool
    """Off because everything on the address is stopped (a marketing topic): it cannot
    be switched until that is lifted, and comes back as the person left it."""


@dataclass(frozen=True, slots=True)
class ChannelPreferences:
    stop_field: str
    """The form field of this address's "stop everything" switch."""
    channel: Channel
    masked_address: str
    stopped: bool
    stop_editable: bool
    """False for a suppression the person did not make: the page may not lift it."""
    toggles: tuple[TopicToggle, ...]


@dataclass(frozen=True, slots=True)
class PreferenceCentre:
    """Every topic of the tenant on every address of the person, as switches."""

    branding: Branding
    default_locale: str
    contact_locale: str | None
    channels: tuple[ChannelPreferences, ...]
    changed: int = 0
    """How many consent changes the save that produced this view made."""


@dataclass(frozen=True, slots=True)
class _Link:
    tenant: Tenant
    address: Address
    topic: Topic | None
    message: Message | None

    @property
    def attribution(self) -> Attribution:
        if self.message is None:
            return Attribution()
        return Attribution(message_uid=self.message.message_uid, campaign=self.message.campaign)


class LinkService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def page(self, *, token: str) -> LinkPage:
        """The landing page of a link. Reads only."""
        claims, tenant = self._claims(token)
        return self._ctx.transactions.read(
            lambda uow: self._page(uow, link=self._resolve(uow, claims=claims, tenant=tenant))
        )

    def one_click(self, *, token: str, provenance: Provenance) -> Change:
        """The RFC 8058 one-click unsubscribe: leave the link's topic, or stop everything on
        the channel for a link issued for every topic. Repeating it is harmless.

        Forbidden for a topic that may not be left (such messages get no one-click header).
        """
        committed: Future[Change] = Future()
        self.submit_one_click(token=token, provenance=provenance, completion=committed)
        return committed.result()

    def submit_one_click(
        self, *, token: str, provenance: Provenance, completion: Completion[Change]
    ) -> None:
        """`one_click`, queued: an invalid token raises here, and `completion` hears the
        change once it is committed (or the use case's error)."""
        check_provenance(provenance)
        claims, tenant = self._claims(token)
        work = OneClick(service=self, claims=claims, tenant=tenant, provenance=provenance)
        self._ctx.transactions.submit_into(work, completion)

    def leave_in(
        self, uow: UnitOfWork, *, claims: LinkClaims, tenant: Tenant, provenance: Provenance
    ) -> Change:
        """`one_click`'s work, in `uow`."""
        link = self._resolve(uow, claims=claims, tenant=tenant)
        scope = LeaveScope.EVERYTHING if link.topic is None else LeaveScope.TOPIC
        return self._leave(uow, link=link, scope=scope, provenance=provenance)

    def leave(self, *, token: str, scope: LeaveScope, provenance: Provenance) -> LinkPage:
        """Leave the link's topic or stop everything on the channel; the page after it."""
        check_provenance(provenance)
        claims, tenant = self._claims(token)

        def work(uow: UnitOfWork) -> LinkPage:
            link = self._resolve(uow, claims=claims, tenant=tenant)
            self._leave(uow, link=link, scope=scope, provenance=provenance)
            return self._page(uow, link=link)

        return self._ctx.transactions.write(work)

    def undo(self, *, token: str, scope: LeaveScope, provenance: Provenance) -> LinkPage:
        """Take back a recent opt-out of the link's address: subscribe to the topic again
        (a `resubscribe` event) or lift "stop everything" (an `unsuppress` event).

        Conflict when there is nothing to undo, the tenant's undo period has passed, or
        the suppression is not the person's own (a complaint, a bounce, the operator's);
        the preference centre can still change what the person may change.
        """
        check_provenance(provenance)
        claims, tenant = self._claims(token)

        def work(uow: UnitOfWork) -> LinkPage:
            link = self._resolve(uow, claims=claims, tenant=tenant)
            before = self._page(uow, link=link)
            until = (
                before.undo_topic_until
                if scope is LeaveScope.TOPIC
                else before.undo_everything_until
            )
            if until is None:
                raise Conflict("scope: there is no recent opt-out of this kind to undo")
            now = self._ctx.clock.now()
            if link.topic is not None and scope is LeaveScope.TOPIC:
                set_topic_state(
                    uow,
                    at=now,
                    action=Action.RESUBSCRIBE,
                    address=link.address,
                    topic=link.topic,
                    state=SubscriptionState.SUBSCRIBED,
                    provenance=provenance,
                    attribution=link.attribution,
                )
            else:
                set_suppressed(
                    uow,
                    at=now,
                    address=link.address,
                    suppressed=False,
                    reason="undone",
                    provenance=provenance,
                    attribution=link.attribution,
                )
            return self._page(uow, link=link)

        return self._ctx.transactions.write(work)

    def preferences(self, *, token: str) -> PreferenceCentre:
        """The preference centre of the person the link was sent to. Reads only."""
        claims, tenant = self._claims(token)
        return self._ctx.transactions.read(
            lambda uow: self._centre(uow, link=self._resolve(uow, claims=claims, tenant=tenant))
        )

    def save_preferences(
        self,
        *,
        token: str,
        shown: Collection[str],
        on: Collection[str],
        everything: bool,
        provenance: Provenance,
    ) -> PreferenceCentre:
        """Apply one submission of the preference centre, all of it or nothing.

        `shown` names the fields the submitted form displayed and `on` those switched on;
        a displayed field that is not on is off (an unticked checkbox is not sent). Fields
        the form did not display are left alone, so a topic created after the page was
        rendered keeps its state. `everything` stops everything on every address.

        Forbidden for a topic that may not be left. Conflict for a change the address's
        suppression does not allow: lifting a suppression the person did not make, or
        switching a marketing topic of a stopped address (lift the stop first).
        """
        check_provenance(provenance)
        claims, tenant = self._claims(token)
        unknown = sorted(set(on) - set(shown))
        if unknown:
            raise InvalidInput.of(unknown[0], "was not shown on the form")

        def work(uow: UnitOfWork) -> PreferenceCentre:
            link = self._resolve(uow, claims=claims, tenant=tenant)
            before = self._centre(uow, link=link)
            fields = {c.stop_field for c in before.channels} | {
                t.field for c in before.channels for t in c.toggles
            }
            foreign = sorted(set(shown) - fields)
            if foreign:
                raise InvalidInput.of(foreign[0], "is not a preference of this person")
            changed = self._apply(
                uow,
                link=link,
                before=before,
                shown=set(shown),
                on=set(on),
                everything=everything,
                provenance=provenance,
            )
            return replace(self._centre(uow, link=link), changed=changed)

        return self._ctx.transactions.write(work)

    def form_token(self, *, token: str) -> str:
        """A proof, for the forms of a page rendered now, that they came from us for this
        link (a CSRF token). It is bound to the link and works for FORM_TOKEN_LIFETIME."""
        minute = int(self._ctx.clock.now().timestamp()) // 60
        return f"{minute}.{self._form_proof(token=token, minute=minute)}"

    def check_form_token(self, *, token: str, form_token: str) -> None:
        """Forbidden unless `form_token` was issued for this link and is still fresh."""
        minute_text, _, proof = form_token.partition(".")
        now_minute = int(self._ctx.clock.now().timestamp()) // 60
        lifetime = int(FORM_TOKEN_LIFETIME.total_seconds()) // 60
        fresh = minute_text.isdigit() and 0 <= now_minute - int(minute_text) <= lifetime
        expected = self._form_proof(token=token, minute=int(minute_text) if fresh else 0)
        if not (fresh and hmac.compare_digest(proof, expected)):
            raise Forbidden("form: this page has expired; open the link again")

    def _form_proof(self, *, token: str, minute: int) -> str:
        return self._ctx.hasher.secret_hash(f"form\x1f{token}\x1f{minute}")[:32]

    def _claims(self, token: str) -> tuple[LinkClaims, Tenant]:
        claims = self._ctx.keyring.open(token)
        try:
            tenant = self._ctx.tenant(claims.tenant_id)
        except NotFound:
            raise InvalidLinkToken from None
        if claims.issued_at + tenant.pages.link_lifetime <= self._ctx.clock.now():
            raise InvalidLinkToken
        return claims, tenant

    def _resolve(self, uow: UnitOfWork, *, claims: LinkClaims, tenant: Tenant) -> _Link:
        address = uow.addresses.get(tenant.id, claims.address_id)
        if address is None:
            raise InvalidLinkToken
        return _link_of(
            claims=claims,
            tenant=tenant,
            address=address,
            topic=self.topic_of(uow, claims=claims, tenant=tenant),
            message=(
                None
                if claims.message_id is None
                else uow.messages.get(tenant.id, claims.message_id)
            ),
        )

    def topic_of(self, uow: UnitOfWork, *, claims: LinkClaims, tenant: Tenant) -> Topic | None:
        """The topic the claims name (None: none named, or not found)."""
        if claims.topic_id is None:
            return None
        return self._ctx.topic_by_id(uow, tenant.id, claims.topic_id)

    def now(self) -> datetime:
        """The clock's reading, as a use case of the service takes it."""
        return self._ctx.clock.now()

    def _leave(
        self, uow: UnitOfWork, *, link: _Link, scope: LeaveScope, provenance: Provenance
    ) -> Change:
        now = self._ctx.clock.now()
        if scope is LeaveScope.EVERYTHING:
            return set_suppressed(
                uow,
                at=now,
                address=link.address,
                suppressed=True,
                reason=UNSUBSCRIBED,
                provenance=provenance,
                attribution=link.attribution,
            )
        if link.topic is None:
            raise InvalidInput.of("scope", "this link was not sent about one topic")
        _leavable(link.topic)
        return set_topic_state(
            uow,
            at=now,
            action=Action.UNSUBSCRIBE,
            address=link.address,
            topic=link.topic,
            state=SubscriptionState.UNSUBSCRIBED,
            provenance=provenance,
            attribution=link.attribution,
        )

    def _page(self, uow: UnitOfWork, *, link: _Link) -> LinkPage:
        address = link.address
        undo_period = link.tenant.pages.undo_period
        now = self._ctx.clock.now()
        subscription = uow.subscriptions.get(address.id, link.topic.id) if link.topic else None
        topic_left = (
            subscription is not None and subscription.state is SubscriptionState.UNSUBSCRIBED
        )
        suppression = uow.suppressions.get(link.tenant.id, address.channel, address.address_hash)
        by_person = suppression is not None and suppression_origin(suppression.reason).by_person
        return LinkPage(
            branding=_branding(link.tenant),
            default_locale=link.tenant.default_locale,
            contact_locale=_contact_locale(uow, tenant_id=link.tenant.id, address=address),
            channel=address.channel,
            masked_address=mask_address(channel=address.channel, value=address.value),
            topic=_link_topic(link.topic) if link.topic else None,
            topic_left=topic_left,
            stopped=suppression is not None,
            stopped_by_person=by_person,
            undo_topic_until=_undo_until(
                subscription.updated_at if topic_left and subscription else None,
                period=undo_period,
                now=now,
            ),
            undo_everything_until=_undo_until(
                suppression.created_at if suppression and by_person else None,
                period=undo_period,
                now=now,
            ),
        )

    def _centre(self, uow: UnitOfWork, *, link: _Link) -> PreferenceCentre:
        tenant = link.tenant
        addresses = _addresses_of(uow, link=link)
        topics = sorted(
            uow.topics.of_tenant(tenant.id),
            key=lambda t: (t.category is Category.TRANSACTIONAL, t.name.casefold(), t.id),
        )
        states = {
            (s.address_id, s.topic_id): s
            for s in uow.subscriptions.of_addresses([a.id for a in addresses])
        }
        channels = tuple(
            _channel_preferences(
                address,
                topics=topics,
                states=states,
                suppression=uow.suppressions.get(tenant.id, address.channel, address.address_hash),
            )
            for address in sorted(
                addresses, key=lambda a: (a.channel != link.address.channel, a.id)
            )
        )
        return PreferenceCentre(
            branding=_branding(tenant),
            default_locale=tenant.default_locale,
            contact_locale=_contact_locale(uow, tenant_id=tenant.id, address=link.address),
            channels=channels,
        )

    def _apply(
        self,
        uow: UnitOfWork,
        *,
        link: _Link,
        before: PreferenceCentre,
        shown: set[str],
        on: set[str],
        everything: bool,
        provenance: Provenance,
    ) -> int:
        now = self._ctx.clock.now()
        addresses = {f"s.{a.id}": a for a in _addresses_of(uow, link=link)}
        topics = {t.key: t for t in uow.topics.of_tenant(link.tenant.id)}
        changes: list[Change] = []
        for channel in before.channels:
            address = addresses[channel.stop_field]
            for toggle in channel.toggles:
                if toggle.field not in shown or (toggle.field in on) == toggle.on:
                    continue
                if toggle.stopped:
                    raise Conflict(f"{toggle.field}: marketing messages to it are stopped")
                if not toggle.editable:
                    raise Forbidden(f"{toggle.field}: this topic cannot be turned off")
                wanted = toggle.field in on
                topic = topics[toggle.topic.key]
                changes.append(
                    set_topic_state(
                        uow,
                        at=now,
                        action=_switch_action(
                            wanted=wanted, current=uow.subscriptions.get(address.id, topic.id)
                        ),
                        address=address,
                        topic=topic,
                        state=SubscriptionState.SUBSCRIBED
                        if wanted
                        else SubscriptionState.UNSUBSCRIBED,
                        provenance=provenance,
                        attribution=link.attribution,
                    )
                )
            stop = everything or channel.stop_field in on
            if (everything or channel.stop_field in shown) and stop != channel.stopped:
                if not channel.stop_editable:
                    raise Conflict(f"{channel.stop_field}: cannot be turned back on here")
                changes.append(
                    set_suppressed(
                        uow,
                        at=now,
                        address=address,
                        suppressed=stop,
                        reason=UNSUBSCRIBED,
                        provenance=provenance,
                        attribution=link.attribution,
                    )
                )
        return len(changes)


def _addresses_of(uow: UnitOfWork, *, link: _Link) -> list[Address]:
    contact_id = link.address.contact_id
    if contact_id is None:
        return [link.address]
    return uow.addresses.of_contact(link.tenant.id, contact_id)


def _switch_action(*, wanted: bool, current: Subscription | None) -> Action:
    if not wanted:
        return Action.UNSUBSCRIBE
    if current is not None and current.state is SubscriptionState.UNSUBSCRIBED:
        return Action.RESUBSCRIBE
    return Action.SUBSCRIBE


def _channel_preferences(
    address: Address,
    *,
    topics: list[Topic],
    states: dict[tuple[int, int], Subscription],
    suppression: Suppression | None,
) -> ChannelPreferences:
    stopped = suppression is not None
    return ChannelPreferences(
        stop_field=f"s.{address.id}",
        channel=address.channel,
        masked_address=mask_address(channel=address.channel, value=address.value),
        stopped=stopped,
        stop_editable=suppression is None or suppression_origin(suppression.reason).by_person,
        toggles=tuple(
            _toggle(address, topic, states.get((address.id, topic.id)), stopped=stopped)
            for topic in topics
            if address.channel in topic.channels
        ),
    )


def _toggle(
    address: Address, topic: Topic, subscription: Subscription | None, *, stopped: bool
) -> TopicToggle:
    state = subscription.state if subscription else None
    decision = decide(topic=topic, channel=address.channel, state=state, suppressed=stopped)
    held = stopped and topic.category is Category.MARKETING
    return TopicToggle(
        field=f"t.{address.id}.{topic.id}",
        topic=_link_topic(topic),
        on=decision.allowed,
        editable=topic.unsubscribable and not held,
        stopped=held,
    )


def _link_topic(topic: Topic) -> LinkTopic:
    return LinkTopic(
        key=topic.key, name=topic.name, category=topic.category, can_leave=topic.unsubscribable
    )


def _branding(tenant: Tenant) -> Branding:
    pages = tenant.pages
    return Branding(
        name=pages.display_name or tenant.name,
        accent_color=pages.accent_color,
        logo=pages.logo,
        logo_type=pages.logo_type,
    )


def _contact_locale(uow: UnitOfWork, *, tenant_id: int, address: Address) -> str | None:
    if address.contact_id is None:
        return None
    contact = uow.contacts.get(tenant_id, address.contact_id)
    return contact.locale if contact else None


def _undo_until(since: datetime | None, *, period: timedelta, now: datetime) -> datetime | None:
    if since is None or since + period <= now:
        return None
    return since + period


def _link_of(
    *,
    claims: LinkClaims,
    tenant: Tenant,
    address: Address | None,
    topic: Topic | None,
    message: Message | None,
) -> _Link:
    """The link the claims name, from the rows they name (None: not found);
    InvalidLinkToken if those rows are missing or do not belong together."""
    if address is None:
        raise InvalidLinkToken
    if claims.topic_id is not None and (topic is None or address.channel not in topic.channels):
        raise InvalidLinkToken
    if claims.message_id is not None:
        if message is None or message.address_id != address.id:
            raise InvalidLinkToken
        if topic is not None and message.topic_id != topic.id:
            raise InvalidLinkToken
    return _Link(tenant=tenant, address=address, topic=topic, message=message)


def _leavable(topic: Topic) -> Topic:
    """The topic, if a person may leave it; else Forbidden."""
    if not topic.unsubscribable:
        raise Forbidden(f"topic: {topic.name!r} cannot be unsubscribed from")
    return topic


@dataclass(frozen=True, slots=True, eq=False)
class OneClick:
    """The work of an RFC 8058 one-click: leave the link's topic, or stop everything on
    the channel for a link issued for every topic.

    Its `combine` runs many of them (the writer runs a batch's consecutive ones through
    it: on PostgreSQL each statement is a round trip, on SQLite the write lock is held
    while they run) reading and writing each table once for a group: the addresses, the
    messages, the subscriptions read, the subscriptions and suppressions written, the
    events with their notices. That leaves exactly what they would leave one after
    another, as `SuppressAddress.combine` does (decision 0032): each statement keeps
    their order (event and outbox ids), and a work naming an address an earlier one of
    the group named starts the next group (decision 0036). A link that cannot be used
    raises, and the writer then runs every work alone.
    """

    service: LinkService
    claims: LinkClaims
    tenant: Tenant
    provenance: Provenance

    def __call__(self, uow: UnitOfWork) -> Change:
        return self.service.leave_in(
            uow, claims=self.claims, tenant=self.tenant, provenance=self.provenance
        )

    @staticmethod
    def combine(uow: UnitOfWork, works: Sequence[object]) -> list[object]:
        """Run `works` (each a `OneClick`) as if one after another, in groups of works
        on different addresses."""
        clicks = [work for work in works if isinstance(work, OneClick)]
        if len(clicks) != len(works):
            raise TypeError("OneClick.combine runs OneClick works only")
        results: list[object] = []
        group: list[OneClick] = []
        named: set[int] = set()
        for work in clicks:
            if work.claims.address_id in named:
                results += _one_click_each(uow, group)
                group, named = [], set()
            group.append(work)
            named.add(work.claims.address_id)
        results += _one_click_each(uow, group)
        return results


def _one_click_each(uow: UnitOfWork, works: Sequence[OneClick]) -> list[Change]:
    """`OneClick` of each of `works`, which name different addresses: each table read or
    written once for them all. The clock is read as each would read it, once, in the same
    order."""
    times = [work.service.now() for work in works]
    addresses = uow.addresses.get_each([(w.tenant.id, w.claims.address_id) for w in works])
    messages = iter(
        uow.messages.get_each(
            [(w.tenant.id, w.claims.message_id) for w in works if w.claims.message_id is not None]
        )
    )
    links = [
        _link_of(
            claims=work.claims,
            tenant=work.tenant,
            address=address,
            topic=work.service.topic_of(uow, claims=work.claims, tenant=work.tenant),
            message=None if work.claims.message_id is None else next(messages),
        )
        for work, address in zip(works, addresses, strict=True)
    ]
    current = {
        link.address.id: subscription
        for link, subscription in zip(
            (link for link in links if link.topic is not None),
            uow.subscriptions.get_each(
                [(link.address.id, _leavable(link.topic).id) for link in links if link.topic]
            ),
            strict=True,
        )
    }
    added = iter(
        uow.suppressions.add_each(
            [
                suppression_of(link.address, reason=UNSUBSCRIBED, since=now)
                for link, now in zip(links, times, strict=True)
                if link.topic is None
            ]
        )
    )
    events: list[ConsentEvent] = []
    leaving: list[Subscription] = []
    for work, link, now in zip(works, links, times, strict=True):
        if link.topic is None:
            changed = next(added)
            if not changed:
                keep_the_stronger_origin(uow, address=link.address, reason=UNSUBSCRIBED)
            events.append(
                suppression_event(
                    at=now,
                    address=link.address,
                    suppressed=True,
                    changed=changed,
                    provenance=work.provenance,
                    attribution=link.attribution,
                )
            )
            continue
        state = SubscriptionState.UNSUBSCRIBED
        event = topic_state_event(
            current[link.address.id],
            at=now,
            action=Action.UNSUBSCRIBE,
            address=link.address,
            topic=link.topic,
            state=state,
            provenance=work.provenance,
            attribution=link.attribution,
        )
        if event.outcome is Outcome.CHANGED:
            leaving.append(
                Subscription(
                    address_id=link.address.id, topic_id=link.topic.id, state=state, updated_at=now
                )
            )
        events.append(event)
    uow.subscriptions.put_many(leaving)
    ids = uow.events.add_each(events, [notice_of(event) for event in events])
    return [
        change_of(event, event_id=event_id, address=link.address, topic=link.topic)
        for event, event_id, link in zip(events, ids, links, strict=True)
    ]
