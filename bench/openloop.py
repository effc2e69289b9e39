"""An open-loop HTTP/1.1 load generator: requests at a constant rate, latency counted from
each request's intended send time, so a server that falls behind pays for its queue.

wrk is closed-loop (a connection sends its next request only after the last answer), and
wrk2, which is not, is not in Debian. Here request i is due at start + i / rate; each of
`connections` keep-alive connections takes the next due request, waits until it is due
(if it is not yet), sends it and reads the answer. If every connection is busy, a due
request waits for one, and that wait is part of its latency.

    python -m bench.openloop http://127.0.0.1:19600/ --rate 2000 --seconds 10
"""

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class OpenLoopResult:
    rate: float
    """Requests per second asked for."""
    achieved: float
    """Answers per second received over the run (sent within it, answered at all)."""
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    errors: int
    answered: int = 0
    """Answers received."""


@dataclass
class _Run:
    rate: float
    start: float
    end: float
    request: Callable[[int], bytes]
    """The bytes of request i."""
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    errors: int = 0
    next_index: int = 0

    def take(self) -> tuple[int, float] | None:
        """The index and intended send time of the next request, or None when the run is
        over."""
        index = self.next_index
        due = self.start + index / self.rate
        if due >= self.end:
            return None
        self.next_index += 1
        return index, due


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if chunked:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    elif length:
        await reader.readexactly(length)
    return status


async def _connection(run: _Run, host: str, port: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (taken := run.take()) is not None:
            index, due = taken
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(run.request(index))
            try:
                status = await _read_answer(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                run.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            run.latencies.append(time.perf_counter() - due)
            if not 200 <= status < 300:
                run.non_2xx += 1
    finally:
        writer.close()


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _drive(
    *,
    host: str,
    port: int,
    rate: float,
    seconds: float,
    connections: int,
    request: Callable[[int], bytes],
) -> OpenLoopResult:
    start = time.perf_counter() + 0.05
    run = _Run(rate=rate, start=start, end=start + seconds, request=request)
    await asyncio.gather(*(_connection(run, host, port) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    ordered = sorted(run.latencies)
    return OpenLoopResult(
        rate=rate,
        achieved=len(ordered) / max(elapsed, seconds),
        p50_ms=_percentile(ordered, 0.50) * 1000,
        p99_ms=_percentile(ordered, 0.99) * 1000,
        max_ms=(ordered[-1] * 1000) if ordered else 0.0,
        non_2xx=run.non_2xx,
        errors=run.errors,
        answered=len(ordered),
    )


def open_loop(
    *,
    url: str,
    rate: float,
    seconds: float,
    connections: int = 64,
    headers: dict[str, str] | None = None,
) -> OpenLoopResult:
    """GET `url` at `rate` requests/s for `seconds` over `connections` connections."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target or '/'} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return open_loop_requests(
        host=host,
        port=port,
        rate=rate,
        seconds=seconds,
        connections=connections,
        request=lambda _: request,
    )


def open_loop_requests(
    *,
    host: str,
    port: int,
    rate: float,
    seconds: float,
    connections: int,
    request: Callable[[int], bytes],
) -> OpenLoopResult:
    """Send `request(i)` (the whole HTTP/1.1 request, i = 0, 1, ...) to host:port at
    `rate` requests/s for `seconds` over `connections` connections."""
    return asyncio.run(
        _drive(
            host=host,
            port=port,
            rate=rate,
            seconds=seconds,
            connections=connections,
            request=request,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    result = open_loop(
        url=args.url,
        rate=args.rate,
        seconds=args.seconds,
        connections=args.connections,
        headers=headers,
    )
    print(json.dumps(result.__dict__))


if __name__ == "__main__":
    main()
