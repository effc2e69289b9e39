"""`optledger serve` as a real process: first start in an empty directory, then SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(url: str, process: subprocess.Popen[bytes]) -> httpx2.Response:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx2.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "optledger serve exited early"
            try:
                response = client.get(url)
            except httpx2.TransportError:
                time.sleep(0.1)
                continue
            if response.status_code == 200:
                return response
            time.sleep(0.1)
    raise AssertionError(f"{url} was not ready within {STARTUP_TIMEOUT} s")


def test_serve_starts_in_an_empty_directory_and_stops_on_sigterm(tmp_path: Path):
    data = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(data)
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "optledger", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready = wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)
        assert ready.json() == {"status": "ready"}
        assert (data / "optledger.db").is_file()
        assert (data / "optledger.secret").is_file()
        health = httpx2.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert "server" not in health.headers

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says so.
    assert process.returncode == -signal.SIGTERM
    assert b"Traceback" not in stderr
    assert b"/healthz" not in stderr, "no access log: paths can carry personal data"
    # SQLite removes its WAL files only when the last connection closes: the runtime was
    # closed before the process ended.
    assert sorted(p.name for p in data.iterdir()) == ["optledger.db", "optledger.secret"]
