"""`optledger serve`: run the HTTP service."""

from dataclasses import replace
from typing import Annotated

import typer
import uvicorn

from optledger.api.app import create_app
from optledger.api.protocol import bounded_http_protocol
from optledger.bootstrap import build
from optledger.cli.common import load_settings

__all__ = ["serve"]


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
        app = create_app(
            services=runtime.services,
            ready=runtime.ready,
            on_shutdown=runtime.close,
            limits=settings.limits,
        )
        # No access log: request paths and query strings can carry addresses and the
        # tokens of unsubscribe links, and personal data is never logged.
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,
            server_header=False,
            http=bounded_http_protocol(settings.limits),
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
