"""A real `optledger serve` for the tests (and benchmarks) that need one: a free port,
waiting until the server says it is ready, and stopping it."""

import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx2

__all__ = [
    "STARTUP_TIMEOUT",
    "ServerDidNotStart",
    "free_port",
    "peak_rss_mb",
    "reap",
    "serving",
    "wait_until_ready",
]

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


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


@contextmanager
def serving(
    command: Sequence[str], *, base_url: str, env: Mapping[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` (an `optledger serve`) running with its output in `log`, from the moment
    it answers `{base_url}/readyz`; on the way out it gets SIGTERM, and SIGKILL if it has
    not exited within STOP_TIMEOUT."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - the caller's fixed command line
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(base_url, process, log=log)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def reap(process: subprocess.Popen[bytes], *, block: bool) -> resource.struct_rusage | None:
    """Wait for `process` with wait4, which also gives what it used (`peak_rss_mb`), and
    set its exit code on it; None if it is still running and `block` is False."""
    pid, status, usage = os.wait4(process.pid, 0 if block else os.WNOHANG)
    if pid == 0:
        return None
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage


def peak_rss_mb(usage: resource.struct_rusage) -> float:
    """The most resident memory the process ever had, in MiB (Linux counts in KiB)."""
    return usage.ru_maxrss / 1024


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
