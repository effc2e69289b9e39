"""In-memory implementations of the domain ports, for fast service tests.

They behave like the SQL implementations (the contract suite in tests/integration runs
the same scenarios against both): ids count up from 1, lookups are tenant-confined, and
a failing unit of work leaves nothing behind.
"""

import copy
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from optledger.domain.channels import Channel
from optledger.domain.errors import Conflict, InvalidLinkToken
from optledger.domain.links import LinkClaims
from optledger.domain.model import (
    Address,
    ApiKey,
    Category,
    Confirmation,
    ConsentEvent,
    ConsentMode,
    Contact,
    Message,
    OutboxItem,
    Provenance,
    RequestState,
    Scope,
    Subscription,
    SubscriptionState,
    Suppression,
    Tenant,
    Topic,
    UnsubscribeRequest,
)
from optledger.domain.ports import (
    Completion,
    ConsentQuery,
    EventFilter,
    IdempotencyRecord,
    ImportedEvent,
    ImportRun,
    NewSuppression,
    SuppressedSet,
)

T = TypeVar("T")


@dataclass
class FrozenClock:
    at: datetime = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


class FakeKeyring:
    """Seals claims into a readable token: fine for tests of the services, which only need
    a round trip; the real keyring's secrecy is tested in tests/unit/outbound."""

    def seal(self, claims: LinkClaims) -> str:
        topic = claims.topic_id or 0
        message = claims.message_id or 0
        issued = int(claims.issued_at.timestamp())
        return f"t{claims.tenant_id}.{claims.address_id}.{topic}.{message}.{issued}"

    def open(self, token: str) -> LinkClaims:
        try:
            tenant, address, topic, message, issued = token[1:].split(".")
            return LinkClaims(
                tenant_id=int(tenant),
                address_id=int(address),
                topic_id=int(topic) or None,
                message_id=int(message) or None,
                issued_at=datetime.fromtimestamp(int(issued), tz=UTC),
            )
        except ValueError:
            raise InvalidLinkToken from None


@dataclass
class MemoryStore:
    ids: dict[str, int] = field(default_factory=dict)
    tenants: dict[int, Tenant] = field(default_factory=dict)
    api_keys: dict[int, ApiKey] = field(default_factory=dict)
    topics: dict[int, Topic] = field(default_factory=dict)
    contacts: dict[int, Contact] = field(default_factory=dict)
    addresses: dict[int, Address] = field(default_factory=dict)
    subscriptions: dict[tuple[int, int], Subscription] = field(default_factory=dict)
    suppressions: dict[tuple[int, Channel, str], Suppression] = field(default_factory=dict)
    events: dict[int, ConsentEvent] = field(default_factory=dict)
    requests: dict[int, UnsubscribeRequest] = field(default_factory=dict)
    messages: dict[int, Message] = field(default_factory=dict)
    confirmations: dict[str, Confirmation] = field(default_factory=dict)
    outbox: list[OutboxItem] = field(default_factory=list)
    idempotency: dict[tuple[int, int, str], IdempotencyRecord] = field(default_factory=dict)
    import_runs: dict[int, ImportRun] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        self.ids[kind] = self.ids.get(kind, 0) + 1
        return self.ids[kind]


class _Repo:
    def __init__(self, store: MemoryStore) -> None:
        self.s = store


class MemoryTenantRepository(_Repo):
    def add(self, *, name, default_region, default_locale, grace_period, created_at) -> Tenant:
        tenant = Tenant(
            id=self.s.next_id("tenant"),
            name=name,
            default_region=default_region,
            default_locale=default_locale,
            grace_period=grace_period,
            created_at=created_at,
        )
        self.s.tenants[tenant.id] = tenant
        return tenant

    def get(self, tenant_id: int) -> Tenant | None:
        return self.s.tenants.get(tenant_id)

    def by_name(self, name: str) -> Tenant | None:
        return next((t for t in self.s.tenants.values() if t.name == name), None)

    def all(self) -> list[Tenant]:
        return sorted(self.s.tenants.values(), key=lambda t: t.id)

    def set_pages(self, tenant_id: int, pages) -> None:
        self.s.tenants[tenant_id] = replace(self.s.tenants[tenant_id], pages=pages)


class MemoryApiKeyRepository(_Repo):
    def add(self, *, tenant_id, name, prefix, key_hash, scope: Scope, created_at) -> ApiKey:
        key = ApiKey(
            id=self.s.next_id("key"),
            tenant_id=tenant_id,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            scope=scope,
            created_at=created_at,
        )
        self.s.api_keys[key.id] = key
        return key

    def get(self, tenant_id: int, key_id: int) -> ApiKey | None:
        key = self.s.api_keys.get(key_id)
        return key if key and key.tenant_id == tenant_id else None

    def by_hash(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self.s.api_keys.values() if k.key_hash == key_hash), None)

    def of_tenant(self, tenant_id: int) -> list[ApiKey]:
        return [k for k in self.s.api_keys.values() if k.tenant_id == tenant_id]

    def revoke(self, key_id: int, *, at: datetime) -> None:
        self.s.api_keys[key_id] = replace(self.s.api_keys[key_id], revoked_at=at)


class MemoryTopicRepository(_Repo):
    def add(
        self,
        *,
        tenant_id,
        key,
        name,
        category: Category,
        consent_mode: ConsentMode,
        double_opt_in,
        channels,
        unsubscribable,
        created_at,
    ) -> Topic:
        topic = Topic(
            id=self.s.next_id("topic"),
            tenant_id=tenant_id,
            key=key,
            name=name,
            category=category,
            consent_mode=consent_mode,
            double_opt_in=double_opt_in,
            channels=channels,
            unsubscribable=unsubscribable,
            created_at=created_at,
        )
        self.s.topics[topic.id] = topic
        return topic

    def get(self, tenant_id: int, topic_id: int) -> Topic | None:
        topic = self.s.topics.get(topic_id)
        return topic if topic and topic.tenant_id == tenant_id else None

    def by_key(self, tenant_id: int, key: str) -> Topic | None:
        return next(
            (t for t in self.s.topics.values() if t.tenant_id == tenant_id and t.key == key), None
        )

    def of_tenant(self, tenant_id: int) -> list[Topic]:
        return sorted(
            (t for t in self.s.topics.values() if t.tenant_id == tenant_id), key=lambda t: t.key
        )


class MemoryContactRepository(_Repo):
    def add(self, *, tenant_id, external_id, locale, created_at) -> Contact:
        contact = Contact(
            id=self.s.next_id("contact"),
            tenant_id=tenant_id,
            external_id=external_id,
            locale=locale,
            created_at=created_at,
        )
        self.s.contacts[contact.id] = contact
        return contact

    def get(self, tenant_id: int, contact_id: int) -> Contact | None:
        contact = self.s.contacts.get(contact_id)
        return contact if contact and contact.tenant_id == tenant_id else None

    def by_external_id(self, tenant_id: int, external_id: str) -> Contact | None:
        return next(
            (
                c
                for c in self.s.contacts.values()
                if c.tenant_id == tenant_id and c.external_id == external_id
            ),
            None,
        )

    def set_locale(self, contact_id: int, locale: str) -> None:
        self.s.contacts[contact_id] = replace(self.s.contacts[contact_id], locale=locale)

    def mark_erased(self, contact_id: int, *, at: datetime) -> None:
        self.s.contacts[contact_id] = replace(
            self.s.contacts[contact_id], external_id=None, locale=None, erased_at=at
        )


class MemoryAddressRepository(_Repo):
    def add(self, *, tenant_id, channel, value, address_hash, contact_id, created_at) -> Address:
        address = Address(
            id=self.s.next_id("address"),
            tenant_id=tenant_id,
            channel=channel,
            value=value,
            address_hash=address_hash,
            contact_id=contact_id,
            created_at=created_at,
        )
        self.s.addresses[address.id] = address
        return address

    def add_many(
        self, *, tenant_id: int, keys: Sequence[tuple[Channel, str, str]], created_at: datetime
    ) -> list[int]:
        for channel, value, address_hash in keys:
            if self.find(tenant_id, channel, value, address_hash) is not None:
                raise Conflict("this address already exists")
        return [
            self.add(
                tenant_id=tenant_id,
                channel=channel,
                value=value,
                address_hash=address_hash,
                contact_id=None,
                created_at=created_at,
            ).id
            for channel, value, address_hash in keys
        ]

    def find_or_add(
        self, *, tenant_id, channel, value, address_hash, contact_id, created_at
    ) -> Address:
        found = self.find(tenant_id, channel, value, address_hash)
        if found is not None:
            return found
        return self.add(
            tenant_id=tenant_id,
            channel=channel,
            value=value,
            address_hash=address_hash,
            contact_id=contact_id,
            created_at=created_at,
        )

    def get(self, tenant_id: int, address_id: int) -> Address | None:
        address = self.s.addresses.get(address_id)
        return address if address and address.tenant_id == tenant_id else None

    def find(
        self, tenant_id: int, channel: Channel, value: str, address_hash: str
    ) -> Address | None:
        return self.find_many(tenant_id, channel, {value: address_hash}).get(value)

    def find_many(
        self, tenant_id: int, channel: Channel, values: Mapping[str, str]
    ) -> dict[str, Address]:
        return {
            a.value: a
            for a in self.s.addresses.values()
            if a.tenant_id == tenant_id
            and a.channel is channel
            and values.get(a.value) == a.address_hash
        }

    def of_contact(self, tenant_id: int, contact_id: int) -> list[Address]:
        return [
            a
            for a in self.s.addresses.values()
            if a.tenant_id == tenant_id and a.contact_id == contact_id
        ]

    def attach(self, address_id: int, *, contact_id: int) -> None:
        self.s.addresses[address_id] = replace(self.s.addresses[address_id], contact_id=contact_id)

    def delete(self, address_ids: Collection[int]) -> None:
        for address_id in address_ids:
            del self.s.addresses[address_id]


class MemorySubscriptionRepository(_Repo):
    def get(self, address_id: int, topic_id: int) -> Subscription | None:
        return self.s.subscriptions.get((address_id, topic_id))

    def put(self, subscription: Subscription) -> None:
        self.s.subscriptions[(subscription.address_id, subscription.topic_id)] = subscription

    def put_many(self, rows: Sequence[Subscription]) -> None:
        for row in rows:
            self.put(row)

    def remove(self, address_id: int, topic_id: int) -> None:
        self.s.subscriptions.pop((address_id, topic_id), None)

    def states(self, topic_id: int, address_ids: Collection[int]) -> dict[int, SubscriptionState]:
        wanted = set(address_ids)
        return {
            a: sub.state
            for (a, t), sub in self.s.subscriptions.items()
            if t == topic_id and a in wanted
        }

    def of_addresses(self, address_ids: Collection[int]) -> list[Subscription]:
        wanted = set(address_ids)
        return [sub for (a, _), sub in self.s.subscriptions.items() if a in wanted]

    def delete_of_addresses(self, address_ids: Collection[int]) -> None:
        for key in [k for k in self.s.subscriptions if k[0] in set(address_ids)]:
            del self.s.subscriptions[key]

    def snapshot(self, tenant_id: int) -> dict[tuple[str, int], SubscriptionState]:
        return {
            (self.s.addresses[a].address_hash, t): sub.state
            for (a, t), sub in self.s.subscriptions.items()
            if self.s.addresses[a].tenant_id == tenant_id
        }


class MemorySuppressionRepository(_Repo):
    def get(self, tenant_id: int, channel: Channel, address_hash: str) -> Suppression | None:
        return self.s.suppressions.get((tenant_id, channel, address_hash))

    def add(self, suppression: Suppression) -> bool:
        key = (suppression.tenant_id, suppression.channel, suppression.address_hash)
        if key in self.s.suppressions:
            return False
        self.s.suppressions[key] = suppression
        return True

    def add_many(self, tenant_id: int, rows: Sequence[NewSuppression]) -> None:
        for channel, address_hash, address_id, reason, created_at in rows:
            suppression = Suppression(
                tenant_id=tenant_id,
                channel=channel,
                address_hash=address_hash,
                address_id=address_id,
                reason=reason,
                created_at=created_at,
            )
            if not self.add(suppression):
                raise Conflict("a row of suppressions already exists")

    def reasons(self, tenant_id: int, channel: Channel, hashes: Collection[str]) -> dict[str, str]:
        found = (self.s.suppressions.get((tenant_id, channel, h)) for h in hashes)
        return {s.address_hash: s.reason for s in found if s is not None}

    def set_reason(self, tenant_id: int, channel: Channel, address_hash: str, reason: str) -> None:
        key = (tenant_id, channel, address_hash)
        if key in self.s.suppressions:
            self.s.suppressions[key] = replace(self.s.suppressions[key], reason=reason)

    def remove(self, tenant_id: int, channel: Channel, address_hash: str) -> bool:
        return self.s.suppressions.pop((tenant_id, channel, address_hash), None) is not None

    def suppressed(self, tenant_id: int, channel: Channel, hashes: Collection[str]) -> set[str]:
        return {h for h in hashes if (tenant_id, channel, h) in self.s.suppressions}

    def page(
        self, tenant_id: int, *, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[Suppression, str | None]]:
        rows = sorted(
            (s for s in self.s.suppressions.values() if s.tenant_id == tenant_id),
            key=lambda s: (s.channel.value, s.address_hash),
        )
        if after is not None:
            rows = [s for s in rows if (s.channel.value, s.address_hash) > after]
        return [
            (s, self.s.addresses[s.address_id].value if s.address_id is not None else None)
            for s in rows[:limit]
        ]

    def detach_addresses(self, address_ids: Collection[int]) -> None:
        for key, suppression in list(self.s.suppressions.items()):
            if suppression.address_id in set(address_ids):
                self.s.suppressions[key] = replace(suppression, address_id=None)

    def snapshot(self, tenant_id: int) -> set[tuple[Channel, str]]:
        return {(c, h) for (t, c, h) in self.s.suppressions if t == tenant_id}


class MemoryEventRepository(_Repo):
    def add(self, event: ConsentEvent) -> int:
        event_id = self.s.next_id("event")
        self.s.events[event_id] = replace(event, id=event_id)
        return event_id

    def add_with_notice(self, event: ConsentEvent, *, kind: str) -> int:
        event_id = self.add(event)
        self.s.outbox.append(
            OutboxItem(
                tenant_id=event.tenant_id,
                kind=kind,
                payload={"event_id": event_id},
                created_at=event.occurred_at,
            )
        )
        return event_id

    def add_imported(
        self,
        *,
        tenant_id: int,
        occurred_at: datetime,
        provenance: Provenance,
        rows: Sequence[ImportedEvent],
    ) -> list[int]:
        return [
            self.add(
                ConsentEvent(
                    tenant_id=tenant_id,
                    occurred_at=occurred_at,
                    action=row.action,
                    outcome=row.outcome,
                    channel=row.channel,
                    address_hash=row.address_hash,
                    address_id=row.address_id,
                    contact_id=row.contact_id,
                    topic_id=row.topic_id,
                    state=row.state,
                    provenance=provenance,
                )
            )
            for row in rows
        ]

    def query(
        self, tenant_id: int, *, where: EventFilter, after_id: int, limit: int
    ) -> list[ConsentEvent]:
        def matches(e: ConsentEvent) -> bool:
            return (
                e.tenant_id == tenant_id
                and e.id > after_id
                and (where.contact_id is None or e.contact_id == where.contact_id)
                and (where.address_hash is None or e.address_hash == where.address_hash)
                and (where.since is None or e.occurred_at >= where.since)
                and (where.until is None or e.occurred_at < where.until)
                and (where.via is None or e.provenance.via == where.via)
                and (where.action is None or e.action is where.action)
            )

        return [e for e in sorted(self.s.events.values(), key=lambda e: e.id) if matches(e)][:limit]

    def of_request(self, unsubscribe_request_id: int) -> list[ConsentEvent]:
        return [
            e
            for e in sorted(self.s.events.values(), key=lambda e: e.id)
            if e.unsubscribe_request_id == unsubscribe_request_id
        ]

    def scrub(self, tenant_id: int, *, address_ids: Collection[int]) -> None:
        for event_id, e in list(self.s.events.items()):
            if e.tenant_id == tenant_id and e.address_id in set(address_ids):
                provenance = replace(e.provenance, actor=None, ip=None, user_agent=None, context={})
                self.s.events[event_id] = replace(e, address_id=None, provenance=provenance)


class MemoryRequestRepository(_Repo):
    def add(
        self,
        *,
        tenant_id,
        contact_id,
        address_id,
        topic_ids: Sequence[int],
        created_at,
        effective_at,
    ) -> UnsubscribeRequest:
        request = UnsubscribeRequest(
            id=self.s.next_id("request"),
            tenant_id=tenant_id,
            contact_id=contact_id,
            address_id=address_id,
            topic_ids=tuple(topic_ids),
            state=RequestState.PENDING,
            created_at=created_at,
            effective_at=effective_at,
        )
        self.s.requests[request.id] = request
        return request

    def get(self, tenant_id: int, request_id: int) -> UnsubscribeRequest | None:
        request = self.s.requests.get(request_id)
        return request if request and request.tenant_id == tenant_id else None

    def close(self, request_id: int, *, state: RequestState, at: datetime) -> None:
        self.s.requests[request_id] = replace(
            self.s.requests[request_id], state=state, closed_at=at
        )

    def due(self, *, at: datetime, limit: int) -> list[UnsubscribeRequest]:
        return [
            r
            for r in sorted(self.s.requests.values(), key=lambda r: r.id)
            if r.state is RequestState.PENDING and r.effective_at <= at
        ][:limit]

    def of_contact(self, tenant_id: int, contact_id: int) -> list[UnsubscribeRequest]:
        return [
            r
            for r in self.s.requests.values()
            if r.tenant_id == tenant_id and r.contact_id == contact_id
        ]

    def snapshot(self, tenant_id: int) -> dict[int, RequestState]:
        return {r.id: r.state for r in self.s.requests.values() if r.tenant_id == tenant_id}


class MemoryMessageRepository(_Repo):
    def add(self, *, tenant_id, message_uid, address_id, topic_id, campaign, created_at) -> Message:
        message = Message(
            id=self.s.next_id("message"),
            tenant_id=tenant_id,
            message_uid=message_uid,
            address_id=address_id,
            topic_id=topic_id,
            campaign=campaign,
            created_at=created_at,
        )
        self.s.messages[message.id] = message
        return message

    def get(self, tenant_id: int, message_id: int) -> Message | None:
        message = self.s.messages.get(message_id)
        return message if message and message.tenant_id == tenant_id else None

    def by_uid(self, tenant_id: int, message_uid: str) -> Message | None:
        return next(
            (
                m
                for m in self.s.messages.values()
                if m.tenant_id == tenant_id and m.message_uid == message_uid
            ),
            None,
        )

    def of_addresses(self, address_ids: Collection[int]) -> list[Message]:
        return [m for m in self.s.messages.values() if m.address_id in set(address_ids)]

    def delete_of_addresses(self, address_ids: Collection[int]) -> None:
        for message_id in [
            i for i, m in self.s.messages.items() if m.address_id in set(address_ids)
        ]:
            del self.s.messages[message_id]


class MemoryConfirmationRepository(_Repo):
    def add(self, confirmation: Confirmation) -> None:
        self.s.confirmations[confirmation.token_hash] = confirmation

    def by_hash(self, token_hash: str) -> Confirmation | None:
        return self.s.confirmations.get(token_hash)

    def mark_confirmed(self, token_hash: str, *, at: datetime) -> None:
        self.s.confirmations[token_hash] = replace(
            self.s.confirmations[token_hash], confirmed_at=at
        )

    def delete_of_addresses(self, address_ids: Collection[int]) -> None:
        for token_hash in [
            h for h, c in self.s.confirmations.items() if c.address_id in set(address_ids)
        ]:
            del self.s.confirmations[token_hash]


class MemoryOutboxRepository(_Repo):
    def add(self, item: OutboxItem) -> None:
        self.s.outbox.append(item)


class MemoryIdempotencyRepository(_Repo):
    def get(self, tenant_id: int, api_key_id: int, key: str) -> IdempotencyRecord | None:
        return self.s.idempotency.get((tenant_id, api_key_id, key))

    def put(self, record: IdempotencyRecord, *, replace_before: datetime) -> bool:
        entry = (record.tenant_id, record.api_key_id, record.key)
        current = self.s.idempotency.get(entry)
        if current is not None and current.created_at >= replace_before:
            return False
        self.s.idempotency[entry] = record
        return True

    def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        old = sorted(
            (r for r in self.s.idempotency.values() if r.created_at < cutoff),
            key=lambda r: r.created_at,
        )[:limit]
        for record in old:
            del self.s.idempotency[(record.tenant_id, record.api_key_id, record.key)]
        return len(old)


class MemoryImportRunRepository(_Repo):
    def open(self, *, tenant_id: int, digest: str, rows: int, at: datetime) -> ImportRun:
        for run in self.s.import_runs.values():
            if (run.tenant_id, run.digest, run.finished_at) == (tenant_id, digest, None):
                return run
        run = ImportRun(
            id=self.s.next_id("import_run"),
            tenant_id=tenant_id,
            digest=digest,
            rows=rows,
            applied=0,
            changed=0,
            repeated=0,
            created_at=at,
            updated_at=at,
            finished_at=None,
        )
        self.s.import_runs[run.id] = run
        return run

    def get(self, tenant_id: int, run_id: int) -> ImportRun | None:
        run = self.s.import_runs.get(run_id)
        return run if run and run.tenant_id == tenant_id else None

    def advance(self, run_id: int, *, applied: int, to: int, finished: bool, at: datetime) -> bool:
        run = self.s.import_runs[run_id]
        if run.applied != applied or run.finished_at is not None:
            return False
        self.s.import_runs[run_id] = replace(
            run, applied=to, updated_at=at, finished_at=at if finished else None
        )
        return True

    def add_outcomes(self, run_id: int, *, changed: int, repeated: int) -> None:
        run = self.s.import_runs[run_id]
        self.s.import_runs[run_id] = replace(
            run, changed=run.changed + changed, repeated=run.repeated + repeated
        )


class MemoryCheckRepository(_Repo):
    def consents(
        self, queries: Sequence[ConsentQuery]
    ) -> list[tuple[SubscriptionState | None, bool]]:
        return [self._consent(query) for query in queries]

    def warm_up(self) -> None:
        pass

    def _consent(self, query: ConsentQuery) -> tuple[SubscriptionState | None, bool]:
        address = MemoryAddressRepository(self.s).find(
            query.tenant_id, query.channel, query.value, query.address_hash
        )
        subscription = (
            None if address is None else self.s.subscriptions.get((address.id, query.topic_id))
        )
        suppressed = (query.tenant_id, query.channel, query.address_hash) in self.s.suppressions
        return (None if subscription is None else subscription.state), suppressed

    def suppressed_among(
        self, *, tenant_id: int, channel: Channel, hashes: Collection[str]
    ) -> set[str]:
        return MemorySuppressionRepository(self.s).suppressed(tenant_id, channel, hashes)

    def all_suppressed(
        self, *, tenant_id: int, channel: Channel, limit: int
    ) -> SuppressedSet | None:
        """Every suppression as a hash: the answer of a store that holds no values."""
        found = {h for t, c, h in self.s.suppressions if (t, c) == (tenant_id, channel)}
        return None if len(found) > limit else SuppressedSet(values="", hashes=found)

    def all_states(
        self, *, tenant_id: int, channel: Channel, topic_id: int, limit: int
    ) -> dict[str, SubscriptionState] | None:
        found = {
            a.value: sub.state
            for (address_id, t), sub in self.s.subscriptions.items()
            if t == topic_id
            and (a := self.s.addresses[address_id]).tenant_id == tenant_id
            and a.channel is channel
        }
        return None if len(found) > limit else found

    def states_among(
        self, *, tenant_id: int, channel: Channel, topic_id: int, values: Mapping[str, str]
    ) -> dict[str, SubscriptionState]:
        known = MemoryAddressRepository(self.s).find_many(tenant_id, channel, values)
        states = MemorySubscriptionRepository(self.s).states(
            topic_id, [a.id for a in known.values()]
        )
        return {v: states[a.id] for v, a in known.items() if a.id in states}


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self.checks = MemoryCheckRepository(store)
        self.tenants = MemoryTenantRepository(store)
        self.api_keys = MemoryApiKeyRepository(store)
        self.topics = MemoryTopicRepository(store)
        self.contacts = MemoryContactRepository(store)
        self.addresses = MemoryAddressRepository(store)
        self.subscriptions = MemorySubscriptionRepository(store)
        self.suppressions = MemorySuppressionRepository(store)
        self.events = MemoryEventRepository(store)
        self.requests = MemoryRequestRepository(store)
        self.messages = MemoryMessageRepository(store)
        self.confirmations = MemoryConfirmationRepository(store)
        self.outbox = MemoryOutboxRepository(store)
        self.idempotency = MemoryIdempotencyRepository(store)
        self.import_runs = MemoryImportRunRepository(store)


class MemoryTransactions:
    """Runs work against the store; a failing write restores the store as it was."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.commits = 0

    def write(self, work: Callable[[MemoryUnitOfWork], T]) -> T:
        saved = copy.deepcopy(self.store.__dict__)
        try:
            result = work(MemoryUnitOfWork(self.store))
        except BaseException:
            self.store.__dict__.update(saved)
            raise
        self.commits += 1
        return result

    def submit(self, work: Callable[[MemoryUnitOfWork], T]) -> Future[T]:
        """Writes at once; the future is done when it is returned."""
        future: Future[T] = Future()
        self.submit_into(work, future)
        return future

    def submit_into(self, work: Callable[[MemoryUnitOfWork], T], completion: Completion[T]) -> None:
        """Writes at once; `completion` has its outcome when this returns."""
        try:
            completion.set_result(self.write(work))
        except Exception as exc:
            completion.set_exception(exc)

    def read(self, work: Callable[[MemoryUnitOfWork], T]) -> T:
        return work(MemoryUnitOfWork(self.store))

    def lookup(self, work: Callable[[MemoryUnitOfWork], T]) -> T:
        return self.read(work)


class MemorySpool:
    def __init__(self) -> None:
        self.records: list[str] = []

    def append(self, record: str) -> None:
        self.records.append(record)

    def replay(self) -> Iterator[str]:
        return iter(list(self.records))


class MemorySpools:
    """Spools in lists, for service tests; remembers each one it opened."""

    def __init__(self) -> None:
        self.opened: list[MemorySpool] = []

    @contextmanager
    def open(self) -> Iterator[MemorySpool]:
        spool = MemorySpool()
        self.opened.append(spool)
        yield spool


class SteppedSeconds:
    """A monotonic clock for the rate limits that moves only when told."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
