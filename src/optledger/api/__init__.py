"""Inbound HTTP: the FastAPI application and, under it, every HTTP door.

`create_app` receives ready `Services` from whoever starts it (`optledger serve`, tests)
and never builds storage or outbound adapters itself.
"""

from optledger.api.app import create_app

__all__ = ["create_app"]
