"""The group-commit ceiling of a durable unsubscribe: validate JSON, write an event row and a
state row in one writer thread's group commit, answer 202 after the COMMIT.

The database is named by BENCH_CEILING_DATABASE: a SQLite file path (WAL,
`synchronous=FULL`, as optledger opens it) or a `postgresql://` URL (psycopg, the
`ceiling` schema, `synchronous_commit=on`). One writer thread takes every write waiting in
its queue, executes them in one transaction and commits once, then resolves each request's
future: the 2xx is sent only after its rows are durable.
"""

import asyncio
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import psycopg

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Write = tuple[str, asyncio.Future[None], asyncio.AbstractEventLoop]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, address TEXT NOT NULL,"
    " kind TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS states (address TEXT PRIMARY KEY, state TEXT NOT NULL,"
    " at REAL NOT NULL)",
)
PG_SCHEMA = (
    "CREATE SCHEMA IF NOT EXISTS ceiling",
    "CREATE TABLE IF NOT EXISTS ceiling.events (id BIGSERIAL PRIMARY KEY,"
    " address TEXT NOT NULL, kind TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ceiling.states (address TEXT PRIMARY KEY,"
    " state TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
)


def _sqlite_writer(path: str, writes: "queue.Queue[Write]") -> None:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    for statement in SCHEMA:
        db.execute(statement)
    while True:
        group = _drain(writes)
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO events (address, kind, at) VALUES (?, 'unsubscribe', ?)",
            [(address, now) for address, _, _ in group],
        )
        db.executemany(
            "INSERT INTO states (address, state, at) VALUES (?, 'suppressed', ?)"
            " ON CONFLICT (address) DO UPDATE SET state = excluded.state, at = excluded.at",
            [(address, now) for address, _, _ in group],
        )
        db.execute("COMMIT")
        _resolve(group)


def _postgres_writer(url: str, writes: "queue.Queue[Write]") -> None:
    with psycopg.connect(url, autocommit=True) as db:
        for statement in PG_SCHEMA:
            db.execute(statement)
        db.autocommit = False
        while True:
            group = _drain(writes)
            now = time.time()
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO ceiling.events (address, kind, at) VALUES (%s, 'unsubscribe', %s)",
                    [(address, now) for address, _, _ in group],
                )
                cursor.executemany(
                    "INSERT INTO ceiling.states (address, state, at)"
                    " VALUES (%s, 'suppressed', %s) ON CONFLICT (address)"
                    " DO UPDATE SET state = excluded.state, at = excluded.at",
                    [(address, now) for address, _, _ in group],
                )
            db.commit()
            _resolve(group)


def _drain(writes: "queue.Queue[Write]") -> list[Write]:
    """Block for one write, then take every write already waiting: one group."""
    group = [writes.get()]
    while True:
        try:
            group.append(writes.get_nowait())
        except queue.Empty:
            return group


def _resolve(group: list[Write]) -> None:
    for _, future, loop in group:
        loop.call_soon_threadsafe(_done, future)


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _start_writer() -> "queue.Queue[Write]":
    writes: queue.Queue[Write] = queue.Queue()
    database = os.environ["BENCH_CEILING_DATABASE"]
    target = _postgres_writer if database.startswith("postgresql") else _sqlite_writer
    threading.Thread(target=target, args=(database, writes), daemon=True).start()
    return writes


def _address(body: bytes) -> str | None:
    """The request's address if the body is `{"address": {"channel": "email", "address":
    "…@…"}}`, else None: the validation every write pays."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    target = document.get("address") if isinstance(document, dict) else None
    if not isinstance(target, dict) or target.get("channel") != "email":
        return None
    address = target.get("address")
    if not isinstance(address, str) or address.count("@") != 1 or len(address) > 254:
        return None
    return address.strip().lower()


async def _body(receive: Callable[[], Awaitable[Message]]) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


_writes: "queue.Queue[Write] | None" = None


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    global _writes  # noqa: PLW0603 - one writer per process, started by the first request
    if scope["type"] != "http":
        return
    address = _address(await _body(receive))
    if address is None:
        status, body = 422, b'{"title":"invalid address"}'
    else:
        if _writes is None:
            _writes = _start_writer()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        _writes.put((address, future, loop))
        await future
        status, body = 202, b'{"status":"unsubscribed"}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
