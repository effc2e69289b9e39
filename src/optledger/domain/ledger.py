"""Current state as a projection of the consent ledger.

Services write events and current-state rows in one transaction; `project` rebuilds the
current state from the events alone. Comparing the two is how the ledger is verified.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from optledger.domain.channels import Channel
from optledger.domain.model import Action, ConsentEvent, RequestState, SubscriptionState

__all__ = ["TOPIC_ACTIONS", "LedgerState", "project"]

TOPIC_ACTIONS = frozenset(
    {Action.SUBSCRIBE, Action.CONFIRM, Action.UNSUBSCRIBE, Action.RESUBSCRIBE}
)
"""Actions on one (address, topic); their event's `state` is what they leave behind,
None meaning the address is back to the topic's default."""

_REQUEST_STATES = {
    Action.REQUEST_UNSUBSCRIBE: RequestState.PENDING,
    Action.CANCEL_REQUEST: RequestState.CANCELLED,
    Action.COMPLETE_REQUEST: RequestState.COMPLETED,
}


@dataclass
class LedgerState:
    subscriptions: dict[tuple[str, int], SubscriptionState] = field(default_factory=dict)
    """(address hash, topic id) → state."""
    suppressions: set[tuple[Channel, str]] = field(default_factory=set)
    """(channel, address hash) pairs that are suppressed."""
    requests: dict[int, RequestState] = field(default_factory=dict)


def project(events: Iterable[ConsentEvent]) -> LedgerState:
    """The state that `events`, applied in order, leave behind."""
    state = LedgerState()
    for event in events:
        _apply(state, event)
    return state


def _apply(state: LedgerState, event: ConsentEvent) -> None:
    if event.action in TOPIC_ACTIONS:
        if event.address_hash is None or event.topic_id is None:
            raise ValueError(f"event {event.id}: a topic action needs an address and a topic")
        key = (event.address_hash, event.topic_id)
        if event.state is None:
            state.subscriptions.pop(key, None)
        else:
            state.subscriptions[key] = event.state
    elif event.action in (Action.SUPPRESS, Action.UNSUPPRESS):
        if event.address_hash is None or event.channel is None:
            raise ValueError(f"event {event.id}: a suppression needs a channel and an address")
        pair = (event.channel, event.address_hash)
        if event.action is Action.SUPPRESS:
            state.suppressions.add(pair)
        else:
            state.suppressions.discard(pair)
    elif event.action in _REQUEST_STATES:
        if event.unsubscribe_request_id is None:
            raise ValueError(f"event {event.id}: a request action needs the request id")
        state.requests[event.unsubscribe_request_id] = _REQUEST_STATES[event.action]
    elif event.action is Action.ERASE:
        state.subscriptions = {
            key: value for key, value in state.subscriptions.items() if key[0] != event.address_hash
        }
