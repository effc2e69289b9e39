"""Mail scanners follow every link in a message; following one must never change consent.

Security gateways (Microsoft Defender Safe Links, Proofpoint, Mimecast, Barracuda,
Google) fetch each link before, or instead of, the person: with GET, HEAD and sometimes
OPTIONS, often from a headless browser that runs the page's scripts. A GET of the
landing page or of the preference centre only shows a page; only the person's POST from
it changes anything. These tests fire 1,000 such requests at valid links, then load the
pages in Chromium with JavaScript on, and check that no decision and no ledger event of
any of those people changed.
"""

import itertools
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import httpx2
from playwright.sync_api import Page, expect

from tests.browser.conftest import TOPICS, LiveServer, PageFactory, Recipient

SCANNER_AGENTS: Final = (
    # Microsoft Defender for Office 365 Safe Links and Office's own link checks.
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Microsoft Office Existence Discovery",
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
    "Mozilla/5.0 (compatible; Microsoft SafeLinks; +https://aka.ms/safelinks)",
    # Proofpoint URL Defense, Mimecast URL Protect, Barracuda Link Protection.
    "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
    "Mozilla/5.0 (compatible; Mimecast-URL-Protect/1.0)",
    "Mozilla/5.0 (compatible; Barracuda Sentinel; +https://www.barracuda.com)",
    # Google's safe-browsing fetcher and image proxy.
    "Google-Safety",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    # Plain tools and headless browsers.
    "curl/8.5.0",
    "Wget/1.21.3",
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36",
)
REQUESTS: Final = 1000
PEOPLE: Final = 10
WORKERS: Final = 8

Snapshot = dict[str, tuple[dict[str, tuple[bool, str]], list[dict[str, Any]], list[dict[str, Any]]]]


def snapshot(server: LiveServer, people: list[Recipient]) -> Snapshot:
    """Each person's decision on every topic, contact history and address history."""
    return {
        person.address: (
            server.decisions(person),
            server.history(person),
            server.address_history(person),
        )
        for person in people
    }


def assert_untouched(before: Snapshot, after: Snapshot) -> None:
    assert after == before
    for decisions, history, address_history in after.values():
        assert all(allowed for allowed, _ in decisions.values()), decisions
        assert [e["action"] for e in history] == ["subscribe", "subscribe"]
        assert address_history == history


def scan(url: str, kind: str, method: str, agent: str, client: httpx2.Client) -> int:
    response = client.request(
        method,
        url,
        headers={"User-Agent": agent, "Accept": "text/html,*/*;q=0.8"},
        follow_redirects=True,
    )
    status = response.status_code
    if method == "GET":
        assert status == 200, (url, agent, status)
        assert f'<main id="{kind}"' in response.text
    elif method == "HEAD":
        assert (status, response.content) == (200, b""), (url, agent, status)
    else:
        assert status == 204, (url, agent, status)
        assert response.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert "set-cookie" not in response.headers
    return status


def test_a_thousand_scanner_requests_change_nothing(server: LiveServer) -> None:
    people = [server.new_recipient() for _ in range(PEOPLE)]
    before = snapshot(server, people)
    assert_untouched(before, before)

    targets = [(p.unsubscribe_url, "landing") for p in people] + [
        (p.preferences_url, "preferences") for p in people
    ]
    methods = ["GET"] * 700 + ["HEAD"] * 200 + ["OPTIONS"] * 100
    random.Random(8058).shuffle(methods)
    plan = list(
        zip(
            itertools.cycle(targets),
            methods,
            itertools.cycle(SCANNER_AGENTS),
            strict=False,
        )
    )
    assert len(plan) == REQUESTS

    def run(share: list[tuple[tuple[str, str], str, str]]) -> list[tuple[str, int]]:
        with httpx2.Client(timeout=10.0) as client:
            return [
                (method, scan(url, kind, method, agent, client))
                for (url, kind), method, agent in share
            ]

    with ThreadPoolExecutor(WORKERS) as pool:
        shares = pool.map(run, [plan[i::WORKERS] for i in range(WORKERS)])
        results = [result for share in shares for result in share]

    assert len(results) == REQUESTS
    statuses = {m: sorted({s for method, s in results if method == m}) for m in set(methods)}
    assert statuses == {"GET": [200], "HEAD": [200], "OPTIONS": [204]}
    assert Counter(method for method, _ in results) == {"GET": 700, "HEAD": 200, "OPTIONS": 100}

    assert_untouched(before, snapshot(server, people))


def test_headless_chromium_with_javascript_changes_nothing(
    new_page: PageFactory, server: LiveServer
) -> None:
    """A scanner's headless browser: it runs scripts, waits for the network to go idle,
    and follows the page's own links (the preference centre link)."""
    people = [server.new_recipient() for _ in range(2)]
    before = snapshot(server, people)
    page: Page = new_page(java_script_enabled=True, user_agent=SCANNER_AGENTS[-1])
    for person in people:
        page.goto(person.unsubscribe_url, wait_until="networkidle")
        expect(page.locator("main#landing")).to_be_visible()
        page.goto(person.preferences_url, wait_until="networkidle")
        expect(page.locator("main#preferences")).to_be_visible()
    page.goto(people[0].unsubscribe_url, wait_until="networkidle")
    page.locator("#preferences-link").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("main#preferences")).to_be_visible()
    assert_untouched(before, snapshot(server, people))
    assert set(before) == {p.address for p in people}
    assert all(len(decisions) == len(TOPICS) for decisions, _, _ in before.values())
