"""`optledger serve` as a real process: first start with no data yet, then SIGTERM; and a
port that another process holds."""

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx2

from tests.live import free_port, wait_until_ready


def environment(home: Path) -> dict[str, str]:
    """The outer environment without OPTLEDGER_* settings, with `home` as HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTLEDGER_", "XDG_"))}
    env["HOME"] = str(home)
    return env


def test_serve_starts_in_the_default_location_and_stops_on_sigterm(tmp_path: Path):
    data = tmp_path / "home" / ".local" / "share" / "optledger"
    port = free_port()
    env = environment(tmp_path / "home")
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "optledger", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready = wait_until_ready(f"http://127.0.0.1:{port}", process)
        assert ready.json() == {"status": "ready"}
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
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
    lines = stderr.decode().splitlines()
    assert lines[0] == f"optledger: database {data}/optledger.db"
    listening = f" INFO uvicorn.error: Listening on http://127.0.0.1:{port} (press Ctrl-C to stop)"
    assert any(line.endswith(listening) for line in lines)
    assert b"/healthz" not in stderr, "no access log: paths can carry personal data"
    # SQLite removes its WAL files only when the last connection closes: the runtime was
    # closed before the process ended.
    assert sorted(p.name for p in data.iterdir()) == ["optledger.db", "optledger.secret"]


def test_a_port_in_use_exits_with_6_before_the_database_is_touched(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = subprocess.run(  # noqa: S603 - a fixed command line
            [sys.executable, "-m", "optledger", "serve", "--port", str(port)],
            env=environment(tmp_path / "home"),
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
            check=False,
        )

    data = tmp_path / "home" / ".local" / "share" / "optledger"
    assert finished.returncode == 6
    assert finished.stdout == b""
    assert finished.stderr.decode() == (
        f"optledger: database {data}/optledger.db\n"
        f"127.0.0.1:{port} is already in use (by another `optledger serve` or scripts/start?): "
        "stop it, or choose another port with --port or OPTLEDGER_PORT\n"
    )
    assert not (tmp_path / "home").exists()


def test_an_address_that_cannot_be_listened_on_exits_with_1(tmp_path: Path):
    finished = subprocess.run(
        [sys.executable, "-m", "optledger", "serve", "--host", "192.0.2.1", "--port", "8000"],
        env=environment(tmp_path / "home"),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 1
    assert finished.stderr.decode().splitlines()[1:] == [
        "cannot listen on 192.0.2.1:8000 (Cannot assign requested address): check "
        "--host/OPTLEDGER_HOST and --port/OPTLEDGER_PORT"
    ]
    assert not (tmp_path / "home").exists()
