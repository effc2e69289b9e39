"""How `optledger serve` logs: one stream, and no line that carries request data.

- optledger's own loggers and uvicorn's log at the configured level; every other library
  logs warnings and errors only (at INFO and below, SQLAlchemy would log each statement
  with its parameters, and an HTTP client each URL).
- No record is printed with a traceback: an exception's message, and the frames a
  traceback shows, can carry SQL, bound values or the bytes of a malformed request (the
  HTTP parser's errors quote them). optledger's own lines name an exception by its type
  and source line instead (`optledger.api.guard.describe`).
- No access log: request paths and query strings carry the tokens of unsubscribe links
  and addresses. (`optledger.cli.serve` also turns off uvicorn's access log and its
  WebSocket support, whose log lines name the path.)
"""

import logging
from typing import Any, Final

__all__ = ["WithoutTracebacks", "log_config"]

_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OWN_LOGGERS: Final = ("optledger", "uvicorn", "uvicorn.error")


class WithoutTracebacks(logging.Filter):
    """Prints a record without its exception or stack: the message alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def log_config(level: str) -> dict[str, Any]:
    """The `logging.config.dictConfig` configuration of the server at `level` (one of
    `optledger.config.LOG_LEVELS`), for uvicorn's `log_config`."""
    own = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"without_tracebacks": {"()": WithoutTracebacks}},
        "formatters": {"plain": {"format": _FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "plain",
                "filters": ["without_tracebacks"],
            }
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            **{name: {"level": own, "handlers": [], "propagate": True} for name in _OWN_LOGGERS},
            "uvicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
