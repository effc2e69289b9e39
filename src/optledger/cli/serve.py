"""`optledger serve`: run the HTTP service."""

import errno
import logging
import socket
from dataclasses import replace
from typing import Annotated, Any

import typer
import uvicorn

from optledger.api.app import create_app
from optledger.api.protocol import bounded_http_protocol
from optledger.bootstrap import StartupError, build
from optledger.cli.common import load_settings
from optledger.cli.errors import ListenAddressInUse
from optledger.cli.logs import log_config
from optledger.config import ConfigError

__all__ = ["serve", "uvicorn_options"]

_log = logging.getLogger("uvicorn.error")


def serve(
    *,
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to listen on [OPTLEDGER_HOST].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on [OPTLEDGER_PORT]."),
    ] = None,
) -> None:
    """Serve the HTTP API until SIGTERM or Ctrl-C.

    The first start creates the SQLite database and the secret key file in the data
    directory, and every start migrates the database to the latest revision. The port is
    taken before the database is opened: if it is in use the command exits with 6 and
    touches nothing.
    """
    settings = load_settings()
    settings = replace(settings, host=host or settings.host, port=port or settings.port)
    with _listen(host=settings.host, port=settings.port) as listener, build(settings) as runtime:
        app = create_app(
            services=runtime.services,
            ready=runtime.ready,
            on_shutdown=runtime.close,
            limits=settings.limits,
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http=bounded_http_protocol(settings.limits),
            forwarded_allow_ips=settings.forwarded_allow_ips,
            **uvicorn_options(settings.log_level),
        )
        server = uvicorn.Server(config)
        _log.info("Listening on %s (press Ctrl-C to stop)", _base_url(settings.host, settings.port))
        try:
            server.run(sockets=[listener])
        except SystemExit:
            # uvicorn ends the process with its own code (3) when the application does not
            # start; that code means "not found" here.
            if server.started:
                raise
            raise StartupError("the server could not start; see the messages above") from None


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
