"""A live optledger server, started as a user starts it, and Debian's Chromium to drive it.

The server is the real `optledger serve` process on a free port with its own temporary
data directory, one for this package's tests. Its tenant `acme` and admin key come from
the CLI (`optledger tenant create acme --json`, then `tenant set` for its branding); its
topics, contacts and messages from the REST API, exactly as a sender would set them up.
Every test gets its own address (and contact), so tests never see each other's consent
changes.

The browser is Debian's /usr/bin/chromium (installed by `scripts/install --dev`), driven
by Playwright's sync API; Playwright never downloads a browser here. Without Chromium the
browser tests fail, they are not skipped.
"""

import itertools
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx2
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.live import free_port, serving

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
REPO: Final = Path(__file__).resolve().parents[2]
SCREENSHOTS: Final = REPO / "test-artifacts" / "screenshots"
OPTLEDGER: Final = Path(sys.executable).parent / "optledger"

NEWSLETTER: Final = "newsletter"
PRODUCT_NEWS: Final = "product-news"
RECEIPTS: Final = "order-receipts"
TOPICS: Final = {
    NEWSLETTER: {"key": NEWSLETTER, "name": "Weekly newsletter"},
    PRODUCT_NEWS: {"key": PRODUCT_NEWS, "name": "Product news"},
    RECEIPTS: {"key": RECEIPTS, "name": "Order receipts", "category": "transactional"},
}
"""Two marketing topics a person can leave and one transactional topic they cannot."""
MARKETING: Final = (NEWSLETTER, PRODUCT_NEWS)
CAMPAIGN: Final = "autumn-sale"
BRAND: Final = "Acme Outfitters"
"""The name the tenant's pages show (set with `optledger tenant set`, with a logo)."""
ACCENT: Final = "#1a73e8"

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Recipient:
    """One person: an address subscribed to both marketing topics, owned by a contact,
    and a newsletter message registered for it."""

    number: int
    address: str
    contact: str
    message_uid: str
    unsubscribe_url: str
    """`<public url>/u/<token>`: the landing page (GET) and the one-click target (POST)."""
    headers: dict[str, str]

    @property
    def preferences_url(self) -> str:
        return f"{self.unsubscribe_url}/preferences"


@dataclass
class LiveServer:
    base_url: str
    api_key: str
    data_dir: Path
    env: dict[str, str]
    api: httpx2.Client
    """Authenticated with the tenant's admin key."""

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def post(self, path: str, body: dict[str, Any], *, expect: int = 200) -> Any:
        response = self.api.post(path, json=body)
        assert response.status_code == expect, (path, response.status_code, response.text)
        return response.json()

    def new_recipient(self) -> Recipient:
        number = next(_numbers)
        address = f"reader.{number}@example.com"
        contact = f"user-{number}"
        for topic in MARKETING:
            subscribed = self.post(
                "/v1/subscriptions",
                {"channel": "email", "address": address, "topic": topic, "contact": contact},
            )
            assert subscribed["confirmation_token"] is None
        registered = self.post(
            "/v1/messages",
            {
                "messages": [
                    {
                        "channel": "email",
                        "address": address,
                        "topic": NEWSLETTER,
                        "campaign": CAMPAIGN,
                        "message_uid": f"msg-{number}",
                    }
                ]
            },
            expect=201,
        )
        (message,) = registered["messages"]
        assert message["message_uid"] == f"msg-{number}"
        assert message["address"] == address
        url = message["unsubscribe_url"]
        assert url.startswith(f"{self.base_url}/u/"), url
        assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"<{url}>" in message["headers"]["List-Unsubscribe"]
        return Recipient(
            number=number,
            address=address,
            contact=contact,
            message_uid=message["message_uid"],
            unsubscribe_url=url,
            headers=message["headers"],
        )

    def import_suppression(self, recipient: Recipient, reason: str) -> None:
        """Suppress the recipient's address the way an operator's import does."""
        response = self.api.post(
            "/v1/suppressions/import",
            content=f"email,reason\n{recipient.address},{reason}\n",
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "rows": 1,
            "changed": 1,
            "repeated": 0,
            "skipped": 0,
            "errors": [],
            "resumed": 0,
        }

    def check(self, recipient: Recipient, topic: str) -> tuple[bool, str]:
        """The may-send decision for the recipient's address: (allowed, reason)."""
        response = self.api.get(
            "/v1/checks", params={"topic": topic, "channel": "email", "address": recipient.address}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return body["allowed"], body["reason"]

    def decisions(self, recipient: Recipient) -> dict[str, tuple[bool, str]]:
        """The decision for every topic."""
        return {topic: self.check(recipient, topic) for topic in TOPICS}

    def history(self, recipient: Recipient) -> list[dict[str, Any]]:
        """Every consent event of the recipient's contact, oldest first."""
        events: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = {"limit": 1000} | ({"after": after} if after else {})
            response = self.api.get(f"/v1/contacts/{recipient.contact}/history", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            events.extend(page["items"])
            after = page["next_cursor"]
            if after is None:
                return events

    def address_history(self, recipient: Recipient) -> list[dict[str, Any]]:
        response = self.api.get(
            "/v1/addresses/history",
            params={"channel": "email", "address": recipient.address, "limit": 1000},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["next_cursor"] is None
        items: list[dict[str, Any]] = body["items"]
        return items


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A PNG of one colour, for the tenant's logo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - a fixed command line
        [str(OPTLEDGER), *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, f"optledger {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`optledger serve` on a free port, with tenant `acme`, its admin key and the topics."""
    assert OPTLEDGER.is_file(), f"{OPTLEDGER} is missing: run scripts/install --dev"
    data_dir = tmp_path_factory.mktemp("optledger-live")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env |= {
        "OPTLEDGER_DATA_DIR": str(data_dir),
        "OPTLEDGER_PUBLIC_URL": base_url,
        "OPTLEDGER_LOG_LEVEL": "warning",
    }
    log = data_dir / "server.log"
    command = [str(OPTLEDGER), "serve", "--port", str(port)]
    with serving(command, base_url=base_url, env=env, cwd=data_dir, log=log):
        created = json.loads(_cli(env, "tenant", "create", "acme", "--json"))
        assert created["tenant"]["name"] == "acme"
        key = created["api_key"]
        logo = data_dir / "logo.png"
        logo.write_bytes(_png(32, 32, (0x1A, 0x73, 0xE8)))
        branded = json.loads(
            _cli(
                env,
                *("tenant", "set", "acme", "--display-name", BRAND, "--accent-color", ACCENT),
                *("--logo", str(logo), "--json"),
            )
        )
        assert branded["pages"]["display_name"] == BRAND
        assert branded["pages"]["logo_type"] == "image/png"
        headers = {"Authorization": f"Bearer {key}"}
        with httpx2.Client(base_url=base_url, headers=headers, timeout=10.0) as api:
            live = LiveServer(base_url=base_url, api_key=key, data_dir=data_dir, env=env, api=api)
            for topic in TOPICS.values():
                made = live.post("/v1/topics", topic, expect=201)
                assert made["key"] == topic["key"]
                assert made["unsubscribable"] is (topic.get("category") != "transactional")
            yield live
    # At log level "warning" a healthy run logs nothing: no error, no traceback.
    logged = log.read_text(errors="replace")
    assert logged.strip() == "", f"server log:\n{logged}"


@pytest.fixture
def recipient(server: LiveServer) -> Recipient:
    """A fresh address of a fresh contact, subscribed to both marketing topics, with a
    newsletter message (and so an unsubscribe link) registered for it."""
    return server.new_recipient()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API, for the tests of this package only.

    While it runs, its event loop counts as running in the main thread, so `asyncio.run`
    and `anyio.run` there fail ("Already running asyncio in this thread"). Package scope
    stops it (and the browser) before any other package's tests run."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests use Debian's Chromium "
            "(run scripts/install --dev, which installs the packages chromium and "
            "fonts-noto-cjk); never `playwright install`"
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class PageFactory:
    """Opens pages in new browser contexts and records every request they make."""

    browser: Browser
    requests: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    def __call__(self, **context_options: Any) -> Page:
        context = self.browser.new_context(**context_options)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("request", lambda request: self.requests.append(request.url))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def foreign_requests(requests: list[str], origin: str) -> list[str]:
    """The requests that went anywhere but `origin` (data: URLs never leave the page)."""
    return [
        url for url in requests if not (url.startswith(f"{origin}/") or url.startswith("data:"))
    ]


@pytest.fixture
def new_page(browser: Browser, server: LiveServer) -> Iterator[PageFactory]:
    """`new_page(**context_options)`: a page in a context of its own, closed after the
    test; afterwards, every request any of them made must have gone to the server."""
    factory = PageFactory(browser)
    try:
        yield factory
    finally:
        factory.close()
    assert foreign_requests(factory.requests, server.origin) == []


@pytest.fixture
def page(new_page: PageFactory) -> Page:
    """A page in a new context with JavaScript on and a desktop viewport."""
    return new_page()


def save_screenshot(page: Page, name: str, locale: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/<name>-<locale>.png, the folder
    CI keeps."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{locale}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path
