"""Every unusable link gets the same 404, whatever is wrong with it: no oracle."""

import base64
import os
from datetime import timedelta

from optledger.domain.model import Provenance
from optledger.outbound.keyring import AesGcmKeyring
from tests.functional.pages.conftest import events, form_token, post_form

ONE_CLICK = b"List-Unsubscribe=One-Click"


def bad_tokens(services, world, keyring) -> dict[str, str]:
    token = world.token
    claims = keyring.open(token)
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    random = base64.urlsafe_b64encode(os.urandom(58)).rstrip(b"=").decode()
    return {
        "tampered": tampered,
        "truncated": token[:-3],
        "random": random,
        "unknown key": AesGcmKeyring({7: b"z" * 32}, current=7).seal(claims),
        "junk": "not-a-token",
    }


def answers(client, token: str, valid_form_token: str) -> dict[str, tuple[int, str]]:
    """The answer of every route and method to `token`."""
    path = f"/u/{token}"
    form = [("form_token", valid_form_token), ("scope", "topic")]
    results = {
        "GET landing": client.get(path),
        "HEAD landing": client.head(path),
        "GET preferences": client.get(f"{path}/preferences"),
        "POST leave": post_form(client, f"{path}/leave", form),
        "POST undo": post_form(client, f"{path}/undo", form),
        "POST preferences": post_form(client, f"{path}/preferences", form),
        "POST one-click": client.post(
            path, content=ONE_CLICK, headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
    }
    return {name: (r.status_code, r.text) for name, r in results.items()}


def test_every_bad_link_gets_the_same_404_on_every_route(client, clock, services, world, keyring):
    valid = form_token(client.get(world.path).text)
    before = events(services, world)
    expected = None

    seen = {
        name: answers(client, token, valid)
        for name, token in bad_tokens(services, world, keyring).items()
    }
    clock.advance(timedelta(days=366))
    seen["expired"] = answers(client, world.token, valid)

    for reason, by_route in seen.items():
        for route, (status, body) in by_route.items():
            assert status == 404, (reason, route)
            if route == "POST one-click":
                assert body == "Not found.\n", reason
            elif route != "HEAD landing":
                assert '<main id="invalid-link"' in body, (reason, route)
                assert "This link is not valid any more" in body
                assert "/u/" + world.token[:20] not in body
        expected = expected or by_route
        assert by_route == expected, reason
    clock.advance(timedelta(days=-366))
    assert events(services, world) == before


def test_an_erased_person_s_link_is_the_same_404(client, services, world, keyring):
    valid = form_token(client.get(world.path).text)
    reference = answers(client, bad_tokens(services, world, keyring)["tampered"], valid)
    services.contacts.erase_contact(
        tenant_id=world.tenant_id, external_id="alice", provenance=Provenance(via="api")
    )

    assert answers(client, world.token, valid) == reference


def test_the_invalid_page_s_language_menu_leads_back_to_the_link(client, world):
    leave = post_form(client, f"/u/{world.token[:-3]}/leave", [("scope", "topic")])
    landing = client.get(f"/u/{world.token[:-3]}")

    assert '<form class="language" method="get" action=".">' in leave.text
    assert '<form class="language" method="get">' in landing.text
    redirect = client.get(f"/u/{world.token[:-3]}/?lang=de-DE")
    assert redirect.status_code in (307, 308)
    assert redirect.headers["location"].endswith(f"/u/{world.token[:-3]}?lang=de-DE")
