"""`DirectRoute`: FastAPI's route declarations, with a lean request handler.

Why: under load, FastAPI's generic handler cost far more than the work it served
(BENCHMARKS.md, "the hot paths"): it walks each route's dependency graph anew for every
request, and runs every synchronous dependency in the thread pool, five hand-offs per
request here. A route's graph is fixed once the route is declared, so `DirectRoute`
turns it into a plan when the route is made and, per request, only runs the plan:

- the body is read and decoded exactly as FastAPI reads it;
- sub-dependencies run in FastAPI's order, each once per request (its cache), and one
  whose own parameters are invalid is skipped, its errors kept;
- synchronous dependencies are called in the event loop, not the thread pool: this
  door's read headers, the request and in-process caches (a key's principal, a rate
  bucket), so a thread hand-off would cost more than they do; dependencies with `yield`
  are entered on FastAPI's own per-request exit stacks;
- parameters and bodies are validated by FastAPI's own functions
  (`request_params_to_args`, `request_body_to_args`), so every value and every error is
  the one FastAPI gives;
- the endpoint is awaited if it is a coroutine and runs in the thread pool if not (the
  services block), and its result is validated and serialised as FastAPI does it.

The OpenAPI document, the error handlers and the middleware are FastAPI's, unchanged. A
route that uses what the plan does not cover (a form body, a streamed or SSE response, a
`Response`, `BackgroundTasks` or `SecurityScopes` parameter, OAuth scopes, a
synchronous generator dependency, dependency concurrency limits) keeps FastAPI's own
handler; `direct_handler` tells which.
"""

import email.message
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final, Literal

from fastapi import params
from fastapi._compat import ModelField, Undefined, field_annotation_is_sequence
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import (
    _get_form_models,
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _should_embed_body_fields,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, _effective_route_context_var
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["DirectHandler", "DirectRoute", "direct_handler"]

_Kind = Literal["async", "sync", "async_generator"]
_INNER_STACK: Final = "fastapi_inner_astack"
_FUNCTION_STACK: Final = "fastapi_function_astack"
_JSON: Final = "application/json"
"""The usual `Content-Type` of a JSON body: read as JSON without parsing the header
(`email.message` took about 5 µs a request), as FastAPI reads it."""


@dataclass(frozen=True, slots=True)
class _Param:
    """A plain parameter (one value, one name in the request, no model), validated
    straight by its field; anything else about it is left to FastAPI."""

    field: ModelField
    key: str
    loc: tuple[str, str]
    optional: bool
    """Not required, defaults to None, and the default is not validated."""


@dataclass(frozen=True, slots=True)
class _Params:
    """One kind of parameter of a node (path, query, header or cookie)."""

    fields: list[ModelField]
    plain: tuple[_Param, ...] | None
    """Each field as a `_Param`, or None if any is not plain."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one node of a route's dependency graph takes from a request."""

    steps: tuple["_Step", ...]
    body_params: list[ModelField]
    single_body: ModelField | None
    """The one body parameter, when the body is that parameter itself (not embedded)."""
    request_names: tuple[str, ...]
    """The parameters that take the request itself (`Request`, `HTTPConnection`)."""
    sources: tuple[tuple[_Params, Callable[[Request], Mapping[str, Any]]], ...]
    """The kinds of parameter this node has (path, query, header, cookie), each with
    where in the request it reads them: a source is read only by a node with such
    parameters (parsing the query string and the cookies of every request showed in the
    profile of the hot paths)."""


@dataclass(frozen=True, slots=True)
class _Step:
    """One sub-dependency: how to call it, and the plan of its own parameters."""

    call: Callable[..., Any]
    kind: _Kind
    name: str | None
    use_cache: bool
    function_scope: bool
    plan: _Plan


class _Unsupported(Exception):
    """The route uses something the plan does not cover."""


class DirectRoute(APIRoute):
    """An `APIRoute` whose requests are handled by its plan (see the module docstring).

    `app.dependency_overrides` are not consulted: optledger sets none."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        route = _effective(self)
        try:
            plan = _plan(route.dependant)
            _check_route(route)
        except _Unsupported:
            return super().get_route_handler()
        handler = DirectHandler(route=route, plan=plan)
        _handlers(self)[route.path] = handler
        return handler.handle


def direct_handler(route: object, *, path: str) -> "DirectHandler | None":
    """The plan-running handler of `route` as included at `path`; None if the route keeps
    FastAPI's handler (or is not a `DirectRoute`)."""
    if not isinstance(route, DirectRoute):
        return None
    return _handlers(route).get(path)


def _handlers(route: DirectRoute) -> dict[str, "DirectHandler"]:
    """The route's handlers by the path it is included at (one route object serves every
    router it is included in; FastAPI builds a handler for each)."""
    found: dict[str, DirectHandler] = route.__dict__.setdefault("_direct_handlers", {})
    return found


def _effective(route: APIRoute) -> Any:
    """The route as included (its prefix and the including routers' dependencies added),
    while FastAPI builds the handler of an included route; else the route itself.
    FastAPI's own `APIRoute.get_route_handler` reads it the same way."""
    context = _effective_route_context_var.get()
    if context is not None and context.original_route is route:
        return context
    return route


class DirectHandler:
    """Handles the requests of one included `DirectRoute` by its plan."""

    def __init__(self, *, route: Any, plan: _Plan) -> None:
        self._plan = plan
        self._endpoint = route.dependant.call
        self._endpoint_is_async = is_async_callable(self._endpoint)
        self._reads_body = route.body_field is not None
        self._status_code = route.status_code
        self._response_field = route.response_field
        self._valid_as_is = _valid_as_is(route.response_model)
        self._by_alias = route.response_model_by_alias
        self._exclude_unset = route.response_model_exclude_unset
        self._exclude_defaults = route.response_model_exclude_defaults
        self._exclude_none = route.response_model_exclude_none
        self._include = route.response_model_include
        self._exclude = route.response_model_exclude
        self._strict_content_type = _setting(route.strict_content_type)
        self._embed_body_fields = route._embed_body_fields
        self.uses_exit_stacks = _enters_contexts(plan)
        """Whether a dependency has `yield`: its handler needs FastAPI's per-request exit
        stacks (`request_response` makes them)."""

    async def handle(self, request: Request) -> Response:
        body = await self._body(request) if self._reads_body else Undefined
        values, errors = await _solve(
            self._plan,
            request=request,
            body=body,
            cache={},
            embed_body_fields=self._embed_body_fields,
        )
        if errors:
            raise RequestValidationError(errors, body=None if body is Undefined else body)
        assert self._endpoint is not None
        if self._endpoint_is_async:
            result = await self._endpoint(**values)
        else:
            result = await run_in_threadpool(self._endpoint, **values)
        return self._response(result)

    async def _body(self, request: Request) -> Any:
        """The body as FastAPI reads it: JSON for a JSON media type, else its bytes."""
        try:
            body_bytes = await request.body()
            if not body_bytes:
                return Undefined
            content_type = request.headers.get("content-type")
            if content_type is None:
                return body_bytes if self._strict_content_type else await request.json()
            if content_type == _JSON:
                return await request.json()
            message = email.message.Message()
            message["content-type"] = content_type
            if message.get_content_maintype() == "application":
                subtype = message.get_content_subtype()
                if subtype == "json" or subtype.endswith("+json"):
                    return await request.json()
            return body_bytes
        except json.JSONDecodeError as exc:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", exc.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": exc.msg},
                    }
                ],
                body=exc.doc,
            ) from exc
        except HTTPException:
            raise
        except Exception as exc:
            raise HTTPException(
                status_code=400, detail="There was an error parsing the body"
            ) from exc

    def _response(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        status = {"status_code": self._status_code} if self._status_code else {}
        field = self._response_field
        if field is None:
            response: Response = JSONResponse(jsonable_encoder(result), **status)
        else:
            if type(result) is self._valid_as_is:
                value = result
            else:
                value, errors = field.validate(result, {}, loc=("response",))
                if errors:
                    raise ResponseValidationError(errors=errors, body=result)
            content = field.serialize_json(
                value,
                include=self._include,
                exclude=self._exclude,
                by_alias=self._by_alias,
                exclude_unset=self._exclude_unset,
                exclude_defaults=self._exclude_defaults,
                exclude_none=self._exclude_none,
            )
            response = Response(content=content, media_type="application/json", **status)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        return response


async def _solve(
    plan: _Plan,
    *,
    request: Request,
    body: Any,
    cache: dict[Hashable, Any],
    embed_body_fields: bool,
) -> tuple[dict[str, Any], list[Any]]:
    """The values of one node's parameters and the errors found, as FastAPI's
    `solve_dependencies` finds them."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for step in plan.steps:
        arguments, step_errors = await _solve(
            step.plan,
            request=request,
            body=body,
            cache=cache,
            embed_body_fields=embed_body_fields,
        )
        if step_errors:
            errors.extend(step_errors)
            continue
        if step.use_cache and step.call in cache:
            solved = cache[step.call]
        else:
            solved = await _call(step, request=request, arguments=arguments)
        if step.name is not None:
            values[step.name] = solved
        cache.setdefault(step.call, solved)
    for kind, source in plan.sources:
        found, field_errors = _parameters(kind, source(request))
        values.update(found)
        errors += field_errors
    if plan.single_body is not None and not embed_body_fields and body is not Undefined:
        field = plan.single_body
        value, body_errors = field.validate(body, {}, loc=("body",))
        values[field.name] = value
        errors.extend(body_errors)
    elif plan.body_params:
        found, body_errors = await request_body_to_args(
            body_fields=plan.body_params,
            received_body=body,
            embed_body_fields=embed_body_fields,
        )
        values.update(found)
        errors.extend(body_errors)
    for name in plan.request_names:
        values[name] = request
    return values, errors


def _parameters(kind: _Params, received: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The values of `kind`'s parameters, as `request_params_to_args` finds them: plain
    parameters that are present and valid, or optional and absent, directly; for
    anything else (a missing or invalid one included), FastAPI's function itself, so
    that every error is exactly FastAPI's."""
    if kind.plain is None:
        return request_params_to_args(kind.fields, received)
    values: dict[str, Any] = {}
    for param in kind.plain:
        raw = received.get(param.key)
        if raw is None:
            if not param.optional:
                return request_params_to_args(kind.fields, received)
            values[param.field.name] = None
            continue
        value, errors = param.field.validate(raw, values, loc=param.loc)
        if errors:
            return request_params_to_args(kind.fields, received)
        values[param.field.name] = value
    return values, []


async def _call(step: _Step, *, request: Request, arguments: dict[str, Any]) -> Any:
    if step.kind == "sync":
        return step.call(**arguments)
    if step.kind == "async":
        awaitable: Awaitable[Any] = step.call(**arguments)
        return await awaitable
    stack = request.scope[_FUNCTION_STACK if step.function_scope else _INNER_STACK]
    assert isinstance(stack, AsyncExitStack)
    return await stack.enter_async_context(asynccontextmanager(step.call)(**arguments))


def _enters_contexts(plan: _Plan) -> bool:
    return any(step.kind == "async_generator" or _enters_contexts(step.plan) for step in plan.steps)


def _plan(dependant: Dependant) -> _Plan:
    if (
        dependant.websocket_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
        or dependant.parent_oauth_scopes
        or dependant.concurrency is not None
    ):
        raise _Unsupported
    body_params = list(dependant.body_params)
    return _Plan(
        steps=tuple(_step(sub) for sub in dependant.dependencies),
        body_params=body_params,
        single_body=_single_body(body_params),
        request_names=tuple(
            name
            for name in (dependant.http_connection_param_name, dependant.request_param_name)
            if name is not None
        ),
        sources=tuple(
            (kind, attrgetter(source))
            for kind, source in (
                (_params(dependant.path_params), "path_params"),
                (_params(dependant.query_params), "query_params"),
                (_params(dependant.header_params), "headers"),
                (_params(dependant.cookie_params), "cookies"),
            )
            if kind.fields
        ),
    )


def _params(fields: list[ModelField]) -> _Params:
    plain = [_plain_param(field) for field in fields]
    return _Params(
        fields=fields,
        plain=None if None in plain else tuple(p for p in plain if p is not None),
    )


def _plain_param(field: ModelField) -> _Param | None:
    """`field` as a `_Param` if `request_params_to_args` reads it as one plain value
    under one name; None otherwise. (FastAPI's own helpers, at plan time only.)"""
    info = field.field_info
    if (
        not isinstance(info, params.Param)
        or _get_param_model(field) is not None
        or _is_json_field(field)
        or field_annotation_is_sequence(info.annotation)
    ):
        return None
    aliases = _get_param_aliases(field)
    if len(aliases) != 1:
        return None
    _, key = aliases[0]
    optional = not info.is_required() and field.default is None and not info.validate_default
    return _Param(field=field, key=key, loc=(info.in_.value, key), optional=optional)


def _single_body(fields: list[ModelField]) -> ModelField | None:
    """The body parameter `request_body_to_args` validates against the whole body."""
    if len(fields) != 1 or _should_embed_body_fields(fields) or _get_form_models(fields[0]):
        return None
    return fields[0]


def _step(dependant: Dependant) -> _Step:
    call = dependant.call
    if call is None:
        raise _Unsupported
    return _Step(
        call=call,
        kind=_kind(call),
        name=dependant.name,
        use_cache=dependant.use_cache,
        function_scope=dependant.scope == "function",
        plan=_plan(dependant),
    )


def _kind(call: Callable[..., Any]) -> _Kind:
    dunder_call = getattr(call, "__call__", None)  # noqa: B004 - a callable instance
    if inspect.isasyncgenfunction(call) or inspect.isasyncgenfunction(dunder_call):
        return "async_generator"
    if inspect.isgeneratorfunction(call) or inspect.isgeneratorfunction(dunder_call):
        raise _Unsupported
    return "async" if is_async_callable(call) else "sync"


def _check_route(route: Any) -> None:
    """Refuse what the handler does not do: forms, streams, custom response classes."""
    endpoint = route.dependant.call
    if endpoint is None or inspect.isgeneratorfunction(endpoint):
        raise _Unsupported
    if inspect.isasyncgenfunction(endpoint):
        raise _Unsupported
    if route.body_field is not None and isinstance(route.body_field.field_info, params.Form):
        raise _Unsupported
    if not isinstance(route.response_class, DefaultPlaceholder):
        raise _Unsupported


def _valid_as_is(response_model: Any) -> type[BaseModel] | None:
    """The response model, if validating an instance of exactly that class gives the
    instance back (pydantic's default, `revalidate_instances="never"`): the handler then
    skips the validation, whose answer is known (about 5 µs a response)."""
    if not (isinstance(response_model, type) and issubclass(response_model, BaseModel)):
        return None
    if response_model.model_config.get("revalidate_instances", "never") != "never":
        return None
    return response_model


def _setting(value: bool | DefaultPlaceholder) -> bool:
    return bool(value.value if isinstance(value, DefaultPlaceholder) else value)
