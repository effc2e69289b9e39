"""`optledger serve`: run the HTTP service."""

from dataclasses import replace
from typing import Annotated, Any

import typer
import uvicorn

from optledger.api.app import create_app
from optledger.bootstrap import build
from optledger.cli.common import load_settings
from optledger.cli.logs import log_config

__all__ = ["serve", "uvicorn_options"]


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

    The first start in an empty data directory creates the SQLite database and the secret
    key file, and every start migrates the database to the latest revision.
    """
    settings = load_settings()
    settings = replace(settings, host=host or settings.host, port=port or settings.port)
    with build(settings) as runtime:
        app = create_app(services=runtime.services, ready=runtime.ready, on_shutdown=runtime.close)
        uvicorn.run(
            app, host=settings.host, port=settings.port, **uvicorn_options(settings.log_level)
        )


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
