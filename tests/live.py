"""A real `optledger serve` for the tests (and benchmarks) that need one: a free port, and
waiting until the server says it is ready."""

import socket
import subprocess
import time
from pathlib import Path

import httpx2

__all__ = ["STARTUP_TIMEOUT", "ServerDidNotStart", "free_port", "wait_until_ready"]

STARTUP_TIMEOUT = 60.0


class ServerDidNotStart(AssertionError):
    """The server exited, or did not answer `/readyz` with 200 in time; the message
    carries the end of its log when there is one."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(
    base_url: str, process: subprocess.Popen[bytes], *, log: Path | None = None
) -> httpx2.Response:
    """The server's first 200 answer to `GET {base_url}/readyz`; ServerDidNotStart if the
    process ends first or STARTUP_TIMEOUT passes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx2.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerDidNotStart(
                    f"optledger serve exited with {process.returncode}{_tail(log)}"
                )
            try:
                response = client.get(f"{base_url}/readyz")
            except httpx2.TransportError:
                time.sleep(0.05)
                continue
            if response.status_code == 200:
                return response
            time.sleep(0.05)
    raise ServerDidNotStart(f"optledger serve was not ready within {STARTUP_TIMEOUT} s{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
