"""The link use cases: landing page, one-click, leave, undo and the preference centre."""

from dataclasses import replace
from datetime import timedelta

import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import Conflict, FieldError, Forbidden, InvalidInput, InvalidLinkToken
from optledger.domain.links import LinkClaims
from optledger.domain.model import Action, Category, Outcome, Provenance, SubscriptionState
from optledger.domain.policy import Reason
from optledger.services.contacts import HistoryQuery
from optledger.services.links import Branding, LeaveScope, LinkTopic
from optledger.services.messages import MessageSpec
from tests.fakes import FakeKeyring, MemoryTopicRepository
from tests.unit.conftest import API

EMAIL = Channel.EMAIL
CLICK = Provenance(via="one_click", ip="192.0.2.7", user_agent="Gmail")
PAGE = Provenance(via="landing_page")
CENTRE = Provenance(via="preference_centre")


def _register(services, tenant_id, *, address="ann@example.com", topic="news", uid="m-1"):
    (message,) = services.messages.register_messages(
        tenant_id=tenant_id,
        messages=[MessageSpec(EMAIL, address, topic, campaign="spring", message_uid=uid)],
    )
    return message.unsubscribe_url.rsplit("/", 1)[1]


def _events(services, tenant_id, address="ann@example.com"):
    page = services.contacts.history(
        tenant_id=tenant_id, query=HistoryQuery(channel=EMAIL, address=address)
    )
    return page.events


def _allowed(services, tenant_id, topic, address="ann@example.com"):
    (result,) = services.checks.check(
        tenant_id=tenant_id, topic=topic, channel=EMAIL, addresses=[address]
    )
    return result.allowed, result.reason


@pytest.fixture
def token(services, tenant_id) -> str:
    services.subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=EMAIL,
        address="ann@example.com",
        topic="news",
        contact="u-1",
        provenance=replace(API, locale="fr-CA"),
    )
    return _register(services, tenant_id)


def test_the_landing_page_says_who_asks_about_what_and_changes_nothing(services, tenant_id, token):
    before = _events(services, tenant_id)
    page = services.links.page(token=token)
    assert page.branding == Branding(name="acme", accent_color=None, logo=None, logo_type=None)
    assert (page.default_locale, page.contact_locale) == ("en-US", "fr-CA")
    assert (page.channel, page.masked_address) == (EMAIL, "a***@example.com")
    assert page.topic == LinkTopic(
        key="news", name="News", category=Category.MARKETING, can_leave=True
    )
    assert (page.topic_left, page.stopped) == (False, False)
    assert (page.undo_topic_until, page.undo_everything_until) == (None, None)
    assert _events(services, tenant_id) == before


def test_one_click_leaves_the_topic_attributed_to_the_message(services, tenant_id, token, clock):
    change = services.links.one_click(token=token, provenance=CLICK)
    assert (change.action, change.outcome, change.topic) == (
        Action.UNSUBSCRIBE,
        Outcome.CHANGED,
        "news",
    )
    assert _allowed(services, tenant_id, "news") == (False, Reason.UNSUBSCRIBED)
    event = _events(services, tenant_id)[-1]
    assert (event.via, event.message_uid, event.campaign, event.ip, event.user_agent) == (
        "one_click",
        "m-1",
        "spring",
        "192.0.2.7",
        "Gmail",
    )
    assert event.occurred_at == clock.at


def test_a_links_topic_is_read_once_and_then_kept(services, tenant_id, token, monkeypatch):
    """A topic never changes once created: the links' use cases read it by id once."""
    reads = []
    read = MemoryTopicRepository.get

    def counted(repository, tenant_id, topic_id):
        reads.append(topic_id)
        return read(repository, tenant_id, topic_id)

    monkeypatch.setattr(MemoryTopicRepository, "get", counted)
    first = services.links.page(token=token)
    services.links.one_click(token=token, provenance=CLICK)
    again = services.links.page(token=token)
    assert len(reads) == 1
    assert again.topic == first.topic
    assert again.topic_left


def test_one_click_repeats_are_recorded_and_harmless(services, tenant_id, token):
    outcomes = [services.links.one_click(token=token, provenance=CLICK).outcome for _ in range(3)]
    assert outcomes == [Outcome.CHANGED, Outcome.REPEATED, Outcome.REPEATED]


def test_one_click_on_a_link_for_every_topic_stops_everything(services, tenant_id, token):
    claims = FakeKeyring().open(token)
    everything = FakeKeyring().seal(replace(claims, topic_id=None, message_id=None))
    change = services.links.one_click(token=everything, provenance=CLICK)
    assert (change.action, change.topic) == (Action.SUPPRESS, None)
    assert _allowed(services, tenant_id, "digest") == (False, Reason.SUPPRESSED)


def test_messages_about_topics_that_cannot_be_left_get_no_one_click(services, tenant_id):
    (receipt, sms) = services.messages.register_messages(
        tenant_id=tenant_id,
        messages=[
            MessageSpec(EMAIL, "ann@example.com", "receipts", message_uid="r-1"),
            MessageSpec(Channel.SMS, "+12025550100", "news", message_uid="s-1"),
        ],
    )
    assert (receipt.headers, sms.headers) == (None, None)
    token = receipt.unsubscribe_url.rsplit("/", 1)[1]
    with pytest.raises(Forbidden):
        services.links.one_click(token=token, provenance=CLICK)
    assert services.links.page(token=token).topic == LinkTopic(
        key="receipts", name="Receipts", category=Category.TRANSACTIONAL, can_leave=False
    )


def _forged(token: str, **changes) -> str:
    keyring = FakeKeyring()
    return keyring.seal(replace(keyring.open(token), **changes))


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda token: "garbage", id="garbage"),
        pytest.param(lambda token: _forged(token, tenant_id=99), id="unknown-tenant"),
        pytest.param(lambda token: _forged(token, address_id=99), id="unknown-address"),
        pytest.param(lambda token: _forged(token, topic_id=99), id="unknown-topic"),
        pytest.param(lambda token: _forged(token, message_id=99), id="unknown-message"),
        pytest.param(lambda token: _forged(token, topic_id=2), id="message-of-another-topic"),
    ],
)
def test_every_unusable_token_is_the_same_error(services, tenant_id, token, mutate):
    bad = mutate(token)
    for use in (
        lambda: services.links.page(token=bad),
        lambda: services.links.preferences(token=bad),
        lambda: services.links.one_click(token=bad, provenance=CLICK),
        lambda: services.links.leave(token=bad, scope=LeaveScope.EVERYTHING, provenance=PAGE),
    ):
        with pytest.raises(InvalidLinkToken) as caught:
            use()
        assert str(caught.value) == "this link is not valid"


def test_a_link_of_another_tenant_names_nothing_here(services, tenant_id, token):
    other = services.tenants.create_tenant(name="globex").tenant
    with pytest.raises(InvalidLinkToken):
        services.links.page(token=_forged(token, tenant_id=other.id))


def test_links_expire_after_the_tenants_link_lifetime(services, tenant_id, token, clock):
    clock.advance(timedelta(days=365) - timedelta(minutes=1))
    assert services.links.page(token=token).topic is not None
    clock.advance(timedelta(minutes=1))
    with pytest.raises(InvalidLinkToken):
        services.links.page(token=token)


def test_an_erased_persons_links_stop_working(services, tenant_id, token):
    services.contacts.erase_contact(tenant_id=tenant_id, external_id="u-1", provenance=API)
    with pytest.raises(InvalidLinkToken):
        services.links.one_click(token=token, provenance=CLICK)


def test_leaving_then_undoing_within_the_undo_period(services, tenant_id, token, clock):
    left = services.links.leave(token=token, scope=LeaveScope.TOPIC, provenance=PAGE)
    assert (left.topic_left, left.undo_topic_until) == (True, clock.at + timedelta(days=30))
    clock.advance(timedelta(days=29))
    back = services.links.undo(token=token, scope=LeaveScope.TOPIC, provenance=PAGE)
    assert (back.topic_left, back.undo_topic_until) == (False, None)
    assert _allowed(services, tenant_id, "news") == (True, Reason.SUBSCRIBED)
    undone = _events(services, tenant_id)[-1]
    assert (undone.action, undone.state, undone.via, undone.message_uid) == (
        Action.RESUBSCRIBE,
        SubscriptionState.SUBSCRIBED,
        "landing_page",
        "m-1",
    )


def test_undo_is_refused_after_the_undo_period(services, tenant_id, token, clock):
    services.links.one_click(token=token, provenance=CLICK)
    clock.advance(timedelta(days=30))
    assert services.links.page(token=token).undo_topic_until is None
    with pytest.raises(Conflict):
        services.links.undo(token=token, scope=LeaveScope.TOPIC, provenance=PAGE)
    assert _allowed(services, tenant_id, "news") == (False, Reason.UNSUBSCRIBED)


def test_stopping_everything_and_undoing_it(services, tenant_id, token, clock):
    stopped = services.links.leave(token=token, scope=LeaveScope.EVERYTHING, provenance=PAGE)
    assert (stopped.stopped, stopped.undo_everything_until) == (
        True,
        clock.at + timedelta(days=30),
    )
    with pytest.raises(Conflict):
        services.links.undo(token=token, scope=LeaveScope.TOPIC, provenance=PAGE)
    services.links.undo(token=token, scope=LeaveScope.EVERYTHING, provenance=PAGE)
    assert _allowed(services, tenant_id, "news") == (True, Reason.SUBSCRIBED)
    assert _events(services, tenant_id)[-1].action is Action.UNSUPPRESS


def test_the_tenants_undo_period_applies(services, tenant_id, token, clock):
    tenant = services.tenants.get_tenant(name="acme")
    services.tenants.set_pages(
        tenant_id=tenant_id, pages=replace(tenant.pages, undo_period=timedelta(days=2))
    )
    page = services.links.leave(token=token, scope=LeaveScope.TOPIC, provenance=PAGE)
    assert page.undo_topic_until == clock.at + timedelta(days=2)


def test_the_preference_centre_shows_every_topic_on_every_address(services, tenant_id, token):
    services.subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=Channel.SMS,
        address="+12025550100",
        topic="news",
        contact="u-1",
        provenance=API,
    )
    centre = services.links.preferences(token=token)
    assert centre.contact_locale == "fr-CA"
    email, sms = centre.channels
    assert (email.channel, email.masked_address, email.stop_field, email.stopped) == (
        EMAIL,
        "a***@example.com",
        "s.1",
        False,
    )
    assert [(t.field, t.topic.key, t.on, t.editable) for t in email.toggles] == [
        ("t.1.2", "digest", True, True),
        ("t.1.1", "news", True, True),
        ("t.1.3", "vip", False, True),
        ("t.1.4", "receipts", True, False),
    ]
    assert (sms.channel, sms.masked_address) == (Channel.SMS, "+1******0100")
    assert [(t.field, t.on) for t in sms.toggles] == [("t.2.1", True)]


def test_saving_preferences_applies_exactly_what_changed(services, tenant_id, token):
    centre = services.links.save_preferences(
        token=token,
        shown=["s.1", "t.1.1", "t.1.2", "t.1.3"],
        on=["t.1.1", "t.1.3"],
        everything=False,
        provenance=CENTRE,
    )
    assert centre.changed == 2
    assert [(t.topic.key, t.on) for t in centre.channels[0].toggles] == [
        ("digest", False),
        ("news", True),
        ("vip", True),
        ("receipts", True),
    ]
    events = _events(services, tenant_id)[-2:]
    assert [(e.action, e.topic, e.via, e.message_uid) for e in events] == [
        (Action.UNSUBSCRIBE, "digest", "preference_centre", "m-1"),
        (Action.SUBSCRIBE, "vip", "preference_centre", "m-1"),
    ]
    again = services.links.save_preferences(
        token=token, shown=["t.1.2"], on=["t.1.2"], everything=False, provenance=CENTRE
    )
    assert again.changed == 1
    assert _events(services, tenant_id)[-1].action is Action.RESUBSCRIBE


def test_unsubscribe_from_everything_stops_every_address(services, tenant_id, token):
    centre = services.links.save_preferences(
        token=token, shown=["s.1", "t.1.1"], on=["t.1.1"], everything=True, provenance=CENTRE
    )
    assert (centre.changed, centre.channels[0].stopped) == (1, True)
    assert _allowed(services, tenant_id, "news") == (False, Reason.SUPPRESSED)
    assert _allowed(services, tenant_id, "receipts") == (True, Reason.TRANSACTIONAL)


def test_a_toggle_that_cannot_be_turned_off_is_refused(services, tenant_id, token):
    with pytest.raises(Forbidden):
        services.links.save_preferences(
            token=token, shown=["t.1.4"], on=[], everything=False, provenance=CENTRE
        )


def test_fields_that_are_not_this_persons_are_refused(services, tenant_id, token):
    with pytest.raises(InvalidInput) as caught:
        services.links.save_preferences(
            token=token, shown=["t.9.1"], on=[], everything=False, provenance=CENTRE
        )
    assert caught.value.errors == (FieldError("t.9.1", "is not a preference of this person"),)
    with pytest.raises(InvalidInput) as caught:
        services.links.save_preferences(
            token=token, shown=[], on=["t.1.1"], everything=False, provenance=CENTRE
        )
    assert caught.value.errors == (FieldError("t.1.1", "was not shown on the form"),)


def test_form_tokens_are_bound_to_the_link_and_expire(services, tenant_id, token, clock):
    other = _register(services, tenant_id, address="bob@example.com", uid="m-2")
    form_token = services.links.form_token(token=token)
    services.links.check_form_token(token=token, form_token=form_token)
    for bad_link, bad_form in [(other, form_token), (token, "garbage"), (token, "1.x")]:
        with pytest.raises(Forbidden):
            services.links.check_form_token(token=bad_link, form_token=bad_form)
    clock.advance(timedelta(hours=24))
    services.links.check_form_token(token=token, form_token=form_token)
    clock.advance(timedelta(minutes=1))
    with pytest.raises(Forbidden):
        services.links.check_form_token(token=token, form_token=form_token)


def test_link_keyring_claims_round_trip_through_messages(services, tenant_id, token, clock):
    assert FakeKeyring().open(token) == LinkClaims(
        tenant_id=tenant_id, address_id=1, topic_id=1, message_id=1, issued_at=clock.at
    )


def test_a_subscribe_with_a_locale_updates_the_contacts_language(services, tenant_id, token):
    services.subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=EMAIL,
        address="ann@example.com",
        topic="digest",
        contact="u-1",
        provenance=replace(API, locale="ja-JP"),
    )
    assert services.links.page(token=token).contact_locale == "ja-JP"


# --- suppressions the person did not make ------------------------------------------------

IMPORT = Provenance(via="import", actor="cli")


def _import(services, tenant_id, reason, address="ann@example.com"):
    report = services.suppressions.import_csv(
        tenant_id=tenant_id,
        chunks=[f"email,reason\n{address},{reason}\n".encode()],
        skip_invalid=False,
        provenance=IMPORT,
    )
    assert report.errors == ()


def _reasons(transactions):
    return [s.reason for s in transactions.store.suppressions.values()]


@pytest.mark.parametrize("reason", ["complained", "hard_bounce", "imported"])
def test_a_suppression_the_person_did_not_make_is_never_theirs_to_undo(
    services, tenant_id, token, reason
):
    _import(services, tenant_id, reason)
    page = services.links.page(token=token)
    assert (page.stopped, page.stopped_by_person, page.undo_everything_until) == (
        True,
        False,
        None,
    )
    before = _events(services, tenant_id)
    with pytest.raises(Conflict):
        services.links.undo(token=token, scope=LeaveScope.EVERYTHING, provenance=PAGE)
    assert _allowed(services, tenant_id, "news") == (False, Reason.SUPPRESSED)
    assert _events(services, tenant_id) == before


def test_an_import_of_people_who_unsubscribed_elsewhere_is_their_own(
    services, tenant_id, token, clock
):
    _import(services, tenant_id, "Unsubscribed")
    page = services.links.page(token=token)
    assert (page.stopped, page.stopped_by_person, page.undo_everything_until) == (
        True,
        True,
        clock.at + timedelta(days=30),
    )


def test_the_centre_locks_a_suppression_the_person_did_not_make(services, tenant_id, token):
    _import(services, tenant_id, "complained")
    (email,) = services.links.preferences(token=token).channels
    assert (email.stopped, email.stop_editable) == (True, False)
    assert [(t.field, t.on, t.editable, t.stopped) for t in email.toggles] == [
        ("t.1.2", False, False, True),
        ("t.1.1", False, False, True),
        ("t.1.3", False, False, True),
        ("t.1.4", True, False, False),
    ]
    before = _events(services, tenant_id)
    with pytest.raises(Conflict, match=r"^s\.1: cannot be turned back on here$"):
        services.links.save_preferences(
            token=token, shown=["s.1"], on=[], everything=False, provenance=CENTRE
        )
    again = services.links.save_preferences(
        token=token, shown=[], on=[], everything=True, provenance=CENTRE
    )
    assert again.changed == 0
    assert _allowed(services, tenant_id, "news") == (False, Reason.SUPPRESSED)
    assert _events(services, tenant_id) == before


def test_under_stop_all_topics_show_their_effective_state(services, tenant_id, token):
    stopped = services.links.save_preferences(
        token=token, shown=["s.1"], on=["s.1"], everything=False, provenance=CENTRE
    )
    (email,) = stopped.channels
    assert (email.stopped, email.stop_editable) == (True, True)
    assert [(t.topic.key, t.on, t.editable, t.stopped) for t in email.toggles] == [
        ("digest", False, False, True),
        ("news", False, False, True),
        ("vip", False, False, True),
        ("receipts", True, False, False),
    ]
    with pytest.raises(Conflict, match=r"^t\.1\.1: marketing messages to it are stopped$"):
        services.links.save_preferences(
            token=token, shown=["t.1.1"], on=["t.1.1"], everything=False, provenance=CENTRE
        )
    resumed = services.links.save_preferences(
        token=token, shown=["s.1"], on=[], everything=False, provenance=CENTRE
    )
    assert resumed.changed == 1
    assert [(t.topic.key, t.on, t.editable, t.stopped) for t in resumed.channels[0].toggles] == [
        ("digest", True, True, False),
        ("news", True, True, False),
        ("vip", False, True, False),
        ("receipts", True, False, False),
    ]
    assert _events(services, tenant_id)[-1].action is Action.UNSUPPRESS


def test_a_complaint_over_the_persons_own_stop_takes_its_place(
    services, tenant_id, token, transactions
):
    services.links.leave(token=token, scope=LeaveScope.EVERYTHING, provenance=PAGE)
    assert _reasons(transactions) == ["unsubscribed"]
    _import(services, tenant_id, "complained")
    assert _reasons(transactions) == ["complained"]
    assert services.links.page(token=token).undo_everything_until is None
    with pytest.raises(Conflict):
        services.links.undo(token=token, scope=LeaveScope.EVERYTHING, provenance=PAGE)


def test_the_persons_own_stop_never_replaces_a_complaint(services, tenant_id, token, transactions):
    _import(services, tenant_id, "complained")
    repeated = services.links.leave(token=token, scope=LeaveScope.EVERYTHING, provenance=PAGE)
    assert (repeated.stopped, repeated.stopped_by_person) == (True, False)
    _import(services, tenant_id, "unsubscribed")
    _import(services, tenant_id, "bounced")
    assert _reasons(transactions) == ["complained"]
