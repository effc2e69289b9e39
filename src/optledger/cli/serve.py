"""`optledger serve`: run the HTTP service."""

import errno
import gc
import logging
import logging.config
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import replace
from functools import cache, partial
from types import ModuleType
from typing import Annotated, Any, Final, NamedTuple

import typer

from optledger.bootstrap import (
    StartupError,
    build,
    load_secret,
    prepare_data_dir,
    settle_database,
    upgrade_database,
)
from optledger.cli.common import load_settings
from optledger.cli.errors import ListenAddressInUse
from optledger.cli.logs import log_config
from optledger.cli.prefork import STARTUP_FAILURE, supervise
from optledger.config import MAX_WORKERS, ConfigError, RequestLimits, Settings

__all__ = ["serve", "tune_collector", "usable_cores", "uvicorn_options"]

_log = logging.getLogger("uvicorn.error")
_BACKLOG: Final = 2048
"""Connections the listening socket queues before they are accepted (uvicorn's default)."""
_YOUNG_OBJECTS: Final = 50_000
"""The youngest generation's collection threshold when serving: well above the objects
of the requests in flight (a few hundred each), a few MiB at most."""


def serve(
    *,
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to listen on [OPTLEDGER_HOST].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on [OPTLEDGER_PORT]."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=MAX_WORKERS,
            help="Server processes, one per usable CPU core by default [OPTLEDGER_WORKERS].",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API until SIGTERM or Ctrl-C.

    The first start creates the SQLite database and the secret key file in the data
    directory, and every start migrates the database to the latest revision. The port is
    taken before the database is opened: if it is in use the command exits with 6 and
    touches nothing. With several workers (the default on a machine with several cores)
    the database is migrated once, then each process serves the one socket with its own
    services and writer (optledger.cli.prefork; docs/decisions/0019-server-processes.md).
    """
    settings = load_settings()
    settings = replace(settings, host=host or settings.host, port=port or settings.port)
    processes = workers or settings.workers or usable_cores()
    _web_stack()  # imported once, before any worker is forked
    with _listen(host=settings.host, port=settings.port) as listener:
        if processes == 1:
            _run_server(settings, listener=listener, processes=1)
            return
        prepare_data_dir(settings)
        load_secret(settings)
        upgrade_database(settings)
        listener.listen(_BACKLOG)
        logging.config.dictConfig(log_config(settings.log_level))
        _log.info("Listening on %s (press Ctrl-C to stop)", _base_url(settings.host, settings.port))
        _log.info("Starting %d server processes", processes)
        stop = supervise(
            workers=processes,
            work=partial(_worker, settings=settings, listener=listener, processes=processes),
        )
        settle_database(settings)
    # As uvicorn does: the exit status says which signal stopped the server.
    signal.raise_signal(stop)


class _WebStack(NamedTuple):
    uvicorn: ModuleType
    create_app: Callable[..., Any]
    bounded_http_protocol: Callable[[RequestLimits], type]


@cache
def _web_stack() -> _WebStack:
    """uvicorn and the application, imported when serving and not with this module: every
    other command (a list check above all) would spend about half a second of its start-up
    on them."""
    import uvicorn  # noqa: PLC0415

    from optledger.api.app import create_app  # noqa: PLC0415
    from optledger.api.protocol import bounded_http_protocol  # noqa: PLC0415

    return _WebStack(
        uvicorn=uvicorn, create_app=create_app, bounded_http_protocol=bounded_http_protocol
    )


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def _worker(*, settings: Settings, listener: socket.socket, processes: int) -> int:
    """One of several server processes, forked by the supervisor: its exit code."""
    try:
        _run_server(settings, listener=listener, processes=processes)
    except (ConfigError, StartupError) as error:
        typer.echo(str(error), err=True)
        return STARTUP_FAILURE
    return 0


def _run_server(settings: Settings, *, listener: socket.socket, processes: int) -> None:
    """Serve on `listener` in this process until SIGTERM or SIGINT; StartupError if the
    server does not start. One of `processes`, which share the rate limits and the
    database connections; the only one migrates the database."""
    web = _web_stack()
    with build(settings, migrate=processes == 1, processes=processes) as runtime:
        limits = settings.limits.shared_by(processes)
        app = web.create_app(
            services=runtime.services,
            ready=runtime.ready,
            on_shutdown=runtime.close,
            limits=limits,
        )
        config = web.uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http=web.bounded_http_protocol(limits),
            forwarded_allow_ips=settings.forwarded_allow_ips,
            backlog=_BACKLOG,
            **uvicorn_options(settings.log_level),
        )
        server = web.uvicorn.Server(config)
        if processes == 1:
            _log.info(
                "Listening on %s (press Ctrl-C to stop)", _base_url(settings.host, settings.port)
            )
        tune_collector()
        try:
            server.run(sockets=[listener])
        except SystemExit:
            # uvicorn ends the process with its own code (3) when the application does not
            # start; that code means "not found" here.
            if server.started:
                raise
            raise StartupError("the server could not start; see the messages above") from None


def tune_collector() -> None:
    """Leave what start-up made (the modules, the application, its services: a few
    hundred thousand objects) out of the garbage collector's work from now on, and let
    the youngest generation hold the objects of the requests in flight.

    Why: every request allocates a few hundred container objects. A full collection,
    every few thousand requests, walked the whole start-up heap: about 120 ms during
    which the event loop answered nothing (the checks' p99) and about a fifth of a
    check's CPU. And at the default threshold (700) the young generation was collected
    every few requests, each time walking the live objects of the 64 requests in flight,
    which then survived into the older generations: about a tenth of a check's CPU more
    (BENCHMARKS.md, "perf-loop"). Objects made later, cycles included, are still
    collected; what start-up left as garbage is collected first, so nothing is kept that
    would have been freed, and at most `_YOUNG_OBJECTS` wait for their collection.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_OBJECTS, middle, old)


def _listen(*, host: str, port: int) -> socket.socket:
    """A socket bound to `host:port`, as uvicorn binds its own (SO_REUSEADDR, IPv6 for a
    host with a colon); ListenAddressInUse when another process holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family=family)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        where = _address(host, port)
        if exc.errno == errno.EADDRINUSE:
            raise ListenAddressInUse(
                f"{where} is already in use (by another `optledger serve` or scripts/start?): "
                "stop it, or choose another port with --port or OPTLEDGER_PORT"
            ) from None
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot listen on {where} ({reason}): check --host/OPTLEDGER_HOST and "
            "--port/OPTLEDGER_PORT"
        ) from None
    return listener


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _base_url(host: str, port: int) -> str:
    return f"http://{_address(host, port)}"


def uvicorn_options(log_level: str) -> dict[str, Any]:
    """uvicorn's options for serving optledger at `log_level`, besides the address.

    No access log and no WebSockets (whose log lines name the path): request paths and
    query strings can carry addresses and the tokens of unsubscribe links, and personal
    data is never logged. See `optledger.cli.logs` for the rest of the logging.
    """
    return {
        "log_level": log_level,
        "log_config": log_config(log_level),
        "access_log": False,
        "server_header": False,
        "ws": "none",
    }
