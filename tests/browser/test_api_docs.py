"""`/docs` in Chromium with every request beyond loopback refused, as on a machine
without internet: Swagger UI renders the operations from the package's own files, and
"Try it out" calls the API on the same origin."""

import ipaddress
import json
from typing import Final
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Page, Route, expect

from tests.browser.conftest import NEWSLETTER, LiveServer, PageFactory, save_screenshot

CHECK_ADDRESS: Final = "#operations-checks-checkAddress"
"""Swagger UI's element of `GET /v1/checks` (tag `checks`, operationId `checkAddress`)."""


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def offline_page(new_page: PageFactory) -> tuple[Page, list[str], list[str]]:
    """A page whose every request to a non-loopback address is aborted: (the page, the
    URLs refused, the console's errors and warnings)."""
    page = new_page()
    refused: list[str] = []
    console: list[str] = []

    def route(request_route: Route) -> None:
        url = request_route.request.url
        if url.startswith("data:") or _is_loopback(url):
            request_route.continue_()
        else:
            refused.append(url)
            request_route.abort("internetdisconnected")

    def log(message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            console.append(message.text)

    page.context.route("**/*", route)
    page.on("console", log)
    page.on("pageerror", lambda error: console.append(str(error)))
    return page, refused, console


def test_the_docs_render_offline_and_try_it_out_calls_the_api(
    server: LiveServer, new_page: PageFactory
):
    page, refused, console = offline_page(new_page)

    page.goto(f"{server.base_url}/docs")

    operation = page.locator(CHECK_ADDRESS)
    expect(operation.locator(".opblock-summary-description")).to_have_text(
        "May we send to this address?"
    )
    expect(page.locator("#operations-subscriptions-unsubscribe")).to_contain_text(
        "Unsubscribe from topics, or from everything"
    )
    expect(page.locator(".opblock")).to_have_count(25)

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("#auth-bearer-value").fill(server.api_key)
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.locator("button.btn-done").click()

    operation.locator(".opblock-summary").click()
    expect(operation).to_contain_text("Needs an API key of any scope")
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("tr[data-param-name=topic] input").fill(NEWSLETTER)
    operation.locator("tr[data-param-name=address] input").fill("docs.reader@example.com")
    operation.get_by_role("button", name="Execute").click()

    live = operation.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).to_have_text("200")
    body = json.loads(live.locator(".response-col_description pre.microlight").first.inner_text())
    assert body == {
        "input": "docs.reader@example.com",
        "address": "docs.reader@example.com",
        "allowed": False,
        "reason": "not_subscribed",
    }
    save_screenshot(page, "api-docs", "en-US")
    assert refused == []
    assert console == []
