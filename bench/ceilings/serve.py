"""Serve a ceiling app with uvicorn exactly as `optledger serve` runs optledger: the same
bounded HTTP protocol, the same options (no access log, no server header, no WebSockets),
its garbage collector tuned as it tunes its own.

    python -m bench.ceilings.serve bench.ceilings.raw_get:app --port 19600
"""

import argparse
import importlib

import uvicorn

from optledger.api.protocol import bounded_http_protocol
from optledger.cli.serve import tune_collector, uvicorn_options
from optledger.config import DEFAULT_LIMITS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="module:attribute of an ASGI app")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    module, _, attribute = args.app.partition(":")
    app = getattr(importlib.import_module(module), attribute)
    tune_collector()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        http=bounded_http_protocol(DEFAULT_LIMITS),
        **uvicorn_options("warning"),
    )


if __name__ == "__main__":
    main()
