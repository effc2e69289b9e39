"""The handlers of the hosted pages.

GET, HEAD and OPTIONS never change consent: mail scanners fetch every link. Only POSTs
write: the RFC 8058 one-click POST (no cookie, no form token: the link is the authority)
and the forms of the pages (each checked against a form token bound to the link, and
refused when the browser says they came from another site).

Whatever is wrong with a link's token, every route answers the same 404 page (no oracle).
Nothing here logs the path: it carries the token.
"""

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from optledger.api.completions import LoopCompletion
from optledger.api.pages.forms import BodyTooLargeError, is_one_click, parse_form, read_body
from optledger.api.pages.i18n import choose_locale, explicit_locale
from optledger.api.pages.render import ASSETS, BrandView, Renderer, plain, security_headers
from optledger.domain.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    InvalidLinkToken,
    Unavailable,
)
from optledger.domain.model import Provenance
from optledger.services.links import LeaveScope, LinkPage, LinkService
from optledger.services.results import Change

__all__ = ["PageHandlers"]

_log = logging.getLogger(__name__)

MAX_USER_AGENT: Final = 500
MAX_REQUEST_ID: Final = 200
ASSET_CACHE: Final = "public, max-age=31536000, immutable"
"""Asset URLs carry a hash of their content (`?v=`), so they may be kept for a year."""

ONE_CLICK_DONE: Final = "Unsubscribed.\n"
ONE_CLICK_BAD_BODY: Final = "Bad request: the body must be List-Unsubscribe=One-Click\n"
ONE_CLICK_NOT_FOUND: Final = "Not found.\n"
ONE_CLICK_FORBIDDEN: Final = "Forbidden: this topic cannot be unsubscribed from.\n"
ONE_CLICK_UNAVAILABLE: Final = "Service unavailable: nothing was changed, try again.\n"
TOO_LARGE: Final = "Content too large.\n"

ROOT_METHODS: Final = "GET, HEAD, POST, OPTIONS"
ACTION_METHODS: Final = "POST, OPTIONS"

_RESERVED_FIELDS: Final = frozenset({"form_token", "shown", "lang", "everything"})

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Urls:
    landing: str
    leave: str
    undo: str
    preferences: str
    """The preference centre's link, carrying an explicit language."""
    preferences_form: str


@dataclass(frozen=True, slots=True)
class _Post:
    """A page form that passed the checks every form POST gets."""

    token: str
    form: FormData
    page: LinkPage
    locale: str
    explicit: str | None


class PageHandlers:
    def __init__(self, *, links: LinkService, renderer: Renderer) -> None:
        self._links = links
        self._renderer = renderer

    # -- routes ---------------------------------------------------------------------------

    def guarded(self, name: str, handler: Handler) -> Handler:
        """`handler`, answering any unexpected exception with the generic 500 page. The
        log names the route and the exception's type and frames, never its message or the
        path, which may hold the token or an address."""

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException:
                raise
            except Unavailable as exc:
                return self._server_error(request, status=503, retry_after=exc.retry_after)
            except Exception as exc:
                frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
                _log.error(
                    "hosted page %s %s failed with %s\n%s",
                    request.method,
                    name,
                    type(exc).__qualname__,
                    frames,
                )
                return self._server_error(request)

        return endpoint

    async def link(self, request: Request) -> Response:
        """`/u/{token}`: the landing page (GET, HEAD) and the one-click POST."""
        if request.method == "OPTIONS":
            return _options(ROOT_METHODS)
        if request.method == "POST":
            return await self._one_click(request)
        token = request.path_params["token"]
        explicit = explicit_locale(request.query_params.get("lang"))
        try:
            page = await run_in_threadpool(self._links.page, token=token)
        except InvalidLinkToken:
            return self._invalid(request, explicit=explicit)
        return self._landing(request, token=token, page=page, explicit=explicit)

    async def leave(self, request: Request) -> Response:
        """`POST /u/{token}/leave`: leave the link's topic or stop everything."""
        if request.method == "OPTIONS":
            return _options(ACTION_METHODS)
        checked = await self._scoped_post(request)
        if isinstance(checked, Response):
            return checked
        post, scope = checked
        provenance = _provenance(request, via="landing_page", locale=post.locale)
        try:
            page = await run_in_threadpool(
                self._links.leave, token=post.token, scope=scope, provenance=provenance
            )
        except InvalidLinkToken:
            return self._invalid(request, explicit=post.explicit, lang_action=".")
        except Forbidden:
            return self._error(request, post, kind="locked", status=403)
        except InvalidInput as exc:
            return self._invalid_input(request, post, exc)
        return self._render(
            request, "confirmation.html", post, page=page, scope=scope.value, lang_action="landing"
        )

    async def undo(self, request: Request) -> Response:
        """`POST /u/{token}/undo`: take back a recent opt-out of the link's address."""
        if request.method == "OPTIONS":
            return _options(ACTION_METHODS)
        checked = await self._scoped_post(request)
        if isinstance(checked, Response):
            return checked
        post, scope = checked
        provenance = _provenance(request, via="landing_page", locale=post.locale)
        try:
            page = await run_in_threadpool(
                self._links.undo, token=post.token, scope=scope, provenance=provenance
            )
        except InvalidLinkToken:
            return self._invalid(request, explicit=post.explicit, lang_action=".")
        except Conflict:
            return self._error(request, post, kind="nothing_to_undo", status=409)
        except InvalidInput as exc:
            return self._invalid_input(request, post, exc)
        return self._landing(
            request, token=post.token, page=page, explicit=post.explicit, undone=scope.value
        )

    async def preferences(self, request: Request) -> Response:
        """`/u/{token}/preferences`: the preference centre (GET, HEAD) and saving it."""
        if request.method == "OPTIONS":
            return _options(ROOT_METHODS)
        if request.method == "POST":
            return await self._save_preferences(request)
        token = request.path_params["token"]
        explicit = explicit_locale(request.query_params.get("lang"))
        try:
            centre = await run_in_threadpool(self._links.preferences, token=token)
        except InvalidLinkToken:
            return self._invalid(request, explicit=explicit)
        locale = self._locale(
            request, explicit, contact=centre.contact_locale, default=centre.default_locale
        )
        return self._renderer.render(
            request,
            "preferences.html",
            locale=locale,
            brand=BrandView.of(centre.branding),
            explicit_lang=explicit,
            centre=centre,
            saved=None,
            urls=_urls(request, token, explicit),
            form_token=self._links.form_token(token=token),
            lang_action=_urls(request, token, None).preferences_form,
        )

    async def asset(self, request: Request) -> Response:
        """`/u/assets/{name}`: the stylesheet, from the package."""
        name = request.path_params["name"]
        media_type = ASSETS.get(name)
        if media_type is None:
            return plain(ONE_CLICK_NOT_FOUND, status=404)
        return Response(
            self._renderer.assets[name],
            media_type=media_type,
            headers={
                "Cache-Control": ASSET_CACHE,
                "X-Content-Type-Options": "nosniff",
                "Cross-Origin-Resource-Policy": "same-origin",
            },
        )

    # -- the one-click POST ---------------------------------------------------------------

    async def _one_click(self, request: Request) -> Response:
        try:
            body = await read_body(request)
        except BodyTooLargeError:
            return plain(TOO_LARGE, status=413)
        if not is_one_click(await parse_form(request.headers, body)):
            return plain(ONE_CLICK_BAD_BODY, status=400)
        provenance = _provenance(request, via="one_click", locale=None)
        try:
            committed: LoopCompletion[Change] = LoopCompletion()
            self._links.submit_one_click(
                token=request.path_params["token"], provenance=provenance, completion=committed
            )
            await committed
        except InvalidLinkToken:
            return plain(ONE_CLICK_NOT_FOUND, status=404)
        except Forbidden:
            return plain(ONE_CLICK_FORBIDDEN, status=403)
        except Unavailable as exc:
            # A mail provider retries a 5xx; it gets text, never a page.
            return plain(
                ONE_CLICK_UNAVAILABLE, status=503, headers={"Retry-After": str(exc.retry_after)}
            )
        return plain(ONE_CLICK_DONE, status=200)

    # -- the page forms -------------------------------------------------------------------

    async def _checked_post(
        self, request: Request, *, invalid_lang_action: str | None = None
    ) -> _Post | Response:
        """The form of a page POST once the link, the body, the origin and the form token
        are checked; otherwise the page that says what is wrong."""
        token = request.path_params["token"]
        too_large = False
        form: FormData | None = None
        try:
            form = await parse_form(request.headers, await read_body(request))
        except BodyTooLargeError:
            too_large = True
        explicit = explicit_locale(
            _field(form, "lang") if form is not None else None
        ) or explicit_locale(request.query_params.get("lang"))
        try:
            page = await run_in_threadpool(self._links.page, token=token)
        except InvalidLinkToken:
            return self._invalid(request, explicit=explicit, lang_action=invalid_lang_action)
        locale = self._locale(
            request, explicit, contact=page.contact_locale, default=page.default_locale
        )
        post = _Post(
            token=token, form=form or FormData(), page=page, locale=locale, explicit=explicit
        )
        if too_large:
            return self._error(request, post, kind="too_large", status=413)
        if form is None:
            return self._invalid_input(
                request, post, InvalidInput.of("body", "must be a form (urlencoded or multipart)")
            )
        if request.headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
            return self._error(request, post, kind="cross_site", status=403)
        try:
            self._links.check_form_token(token=token, form_token=_field(form, "form_token") or "")
        except Forbidden:
            return self._error(request, post, kind="expired", status=403)
        return post

    async def _scoped_post(self, request: Request) -> tuple[_Post, LeaveScope] | Response:
        """A checked landing-page form (leave, undo) and the scope it names."""
        post = await self._checked_post(request, invalid_lang_action=".")
        if isinstance(post, Response):
            return post
        scope = _scope(post.form)
        if scope is None:
            return self._invalid_input(request, post, InvalidInput.of("scope", _SCOPE_REASON))
        return post, scope

    async def _save_preferences(self, request: Request) -> Response:
        post = await self._checked_post(request)
        if isinstance(post, Response):
            return post
        shown: list[str] = []
        on: list[str] = []
        problems: list[FieldError] = []
        for name, value in post.form.multi_items():
            if not isinstance(value, str):
                problems.append(FieldError(name, "must not be a file"))
            elif name == "shown":
                shown.append(value)
            elif name not in _RESERVED_FIELDS:
                if value == "on":
                    on.append(name)
                else:
                    problems.append(FieldError(name, "a switch must be sent as 'on'"))
        everything_value = _field(post.form, "everything")
        if everything_value not in (None, "1"):
            problems.append(FieldError("everything", "must be 1"))
        if problems:
            return self._invalid_input(request, post, InvalidInput(*problems))
        provenance = _provenance(request, via="preference_centre", locale=post.locale)
        try:
            centre = await run_in_threadpool(
                self._links.save_preferences,
                token=post.token,
                shown=shown,
                on=on,
                everything=everything_value == "1",
                provenance=provenance,
            )
        except InvalidLinkToken:
            return self._invalid(request, explicit=post.explicit)
        except (Forbidden, Conflict) as exc:
            return self._refused_preferences(request, post, exc)
        except InvalidInput as exc:
            return self._invalid_input(request, post, exc)
        return self._renderer.render(
            request,
            "preferences.html",
            locale=post.locale,
            brand=BrandView.of(centre.branding),
            explicit_lang=post.explicit,
            centre=centre,
            saved=centre.changed,
            urls=_urls(request, post.token, post.explicit),
            form_token=self._links.form_token(token=post.token),
            lang_action=_urls(request, post.token, None).preferences_form,
        )

    def _refused_preferences(
        self, request: Request, post: _Post, exc: Forbidden | Conflict
    ) -> Response:
        """A save the service refused: a switch that cannot be turned off (403), or one
        that the address's "stop all" does not let the page change (409)."""
        if isinstance(exc, Forbidden):
            return self._error(request, post, kind="locked", status=403)
        return self._error(request, post, kind="stopped", status=409)

    # -- pages ----------------------------------------------------------------------------

    def _locale(
        self, request: Request, explicit: str | None, *, contact: str | None, default: str
    ) -> str:
        return choose_locale(
            explicit=explicit,
            contact=contact,
            accept_language=request.headers.get("accept-language"),
            tenant_default=default,
        )

    def _landing(
        self,
        request: Request,
        *,
        token: str,
        page: LinkPage,
        explicit: str | None,
        undone: str | None = None,
    ) -> Response:
        locale = self._locale(
            request, explicit, contact=page.contact_locale, default=page.default_locale
        )
        post = _Post(token=token, form=FormData(), page=page, locale=locale, explicit=explicit)
        return self._render(
            request, "landing.html", post, page=page, undone=undone, lang_action="landing"
        )

    def _render(
        self,
        request: Request,
        template: str,
        post: _Post,
        *,
        status: int = 200,
        lang_action: str,
        **context: Any,
    ) -> Response:
        """A page of a valid link, in its tenant's branding, with fresh form tokens."""
        urls = _urls(request, post.token, post.explicit)
        return self._renderer.render(
            request,
            template,
            locale=post.locale,
            status=status,
            brand=BrandView.of(post.page.branding),
            explicit_lang=post.explicit,
            urls=urls,
            form_token=self._links.form_token(token=post.token),
            lang_action=getattr(_urls(request, post.token, None), lang_action),
            **context,
        )

    def _error(self, request: Request, post: _Post, *, kind: str, status: int) -> Response:
        return self._render(
            request,
            "error.html",
            post,
            status=status,
            kind=kind,
            errors=(),
            lang_action="landing",
            page=post.page,
        )

    def _invalid_input(self, request: Request, post: _Post, exc: InvalidInput) -> Response:
        return self._render(
            request,
            "error.html",
            post,
            status=400,
            kind="invalid",
            errors=exc.errors,
            lang_action="landing",
            page=post.page,
        )

    def _invalid(
        self, request: Request, *, explicit: str | None, lang_action: str | None = None
    ) -> Response:
        """The one page for every unusable link: the same bytes for every reason. It shows
        nothing of the link (not even the token), so its language menu submits to the
        page's own address, or (`lang_action="."`, from /leave and /undo, which have no
        GET) to `/u/{token}/`, which redirects to the landing page."""
        locale = choose_locale(
            explicit=explicit, accept_language=request.headers.get("accept-language")
        )
        return self._renderer.render(
            request,
            "invalid.html",
            locale=locale,
            status=404,
            explicit_lang=explicit,
            lang_action=lang_action,
        )

    def _server_error(
        self, request: Request, *, status: int = 500, retry_after: int | None = None
    ) -> Response:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        try:
            locale = choose_locale(
                explicit=request.query_params.get("lang"),
                accept_language=request.headers.get("accept-language"),
            )
            response = self._renderer.render(
                request,
                "error.html",
                locale=locale,
                status=status,
                kind="server_error",
                errors=(),
                urls=None,
                lang_action=None,
            )
        except Exception:
            _log.error("hosted page: the error page itself failed to render")
            return plain("Internal server error.\n", status=status, headers=headers)
        response.headers.update(headers)
        return response


_SCOPE_REASON: Final = "must be 'topic' or 'everything'"


def _options(allow: str) -> Response:
    return Response(status_code=204, headers={"Allow": allow, **security_headers()})


def _field(form: FormData | None, name: str) -> str | None:
    if form is None:
        return None
    value = form.get(name)
    return value if isinstance(value, str) else None


def _scope(form: FormData) -> LeaveScope | None:
    try:
        return LeaveScope(_field(form, "scope") or "")
    except ValueError:
        return None


def _urls(request: Request, token: str, explicit: str | None) -> _Urls:
    root = request.scope.get("root_path", "")
    landing = f"{root}/{quote(token, safe='')}"
    query = f"?lang={explicit}" if explicit else ""
    return _Urls(
        landing=landing,
        leave=f"{landing}/leave",
        undo=f"{landing}/undo",
        preferences=f"{landing}/preferences{query}",
        preferences_form=f"{landing}/preferences",
    )


def _provenance(request: Request, *, via: str, locale: str | None) -> Provenance:
    user_agent = request.headers.get("user-agent")
    request_id = request.headers.get("x-request-id")
    return Provenance(
        via=via,
        locale=locale,
        ip=request.client.host if request.client else None,
        user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
        request_id=request_id[:MAX_REQUEST_ID] if request_id else None,
    )
