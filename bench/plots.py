"""Throughput and p99 against connections as a small self-contained SVG (no plotting
library): two panels side by side, log-scaled y, optledger and its ceiling as two lines."""

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

Point = dict[str, float | int | None]
WIDTH, HEIGHT = 360, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 40
COLOURS = {"optledger": "#1f6feb", "ceiling": "#999999"}


def _ticks(low: float, high: float) -> list[float]:
    """Powers of ten (and 2x and 5x of them when the range is narrow) within [low, high]."""
    ticks = []
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for step in (1, 2, 5) if high / low < 1000 else (1,):
            value = step * 10.0**exponent
            if low <= value <= high:
                ticks.append(value)
    return ticks


def _label(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _panel(
    *, x0: int, title: str, key: str, series: dict[str, Sequence[Point]], connections: list[int]
) -> list[str]:
    values = [float(p[key]) for s in series.values() for p in s if p.get(key)]  # type: ignore[arg-type]
    if not values:
        return []
    low, high = min(values) / 1.5, max(values) * 1.5
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return x0 + LEFT + plot_w * (index + 0.5) / len(connections)

    def y(value: float) -> float:
        share = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
        return TOP + plot_h * (1 - share)

    out = [
        f'<text x="{x0 + WIDTH / 2}" y="20" text-anchor="middle" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<rect x="{x0 + LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#ccc"/>',
    ]
    for tick in _ticks(low, high):
        out.append(
            f'<line x1="{x0 + LEFT}" x2="{x0 + LEFT + plot_w}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}" stroke="#eee"/>'
            f'<text x="{x0 + LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{_label(tick)}</text>"
        )
    for index, count in enumerate(connections):
        out.append(
            f'<text x="{x(index):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{count}</text>"
        )
    out.append(
        f'<text x="{x0 + LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
        "connections</text>"
    )
    for name, points in series.items():
        coords = [
            (x(connections.index(int(p["connections"] or 0))), y(float(p[key] or 0)))
            for p in points
            if p.get(key)
        ]
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{COLOURS[name]}" stroke-width="2"/>'
        )
        out += [
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{COLOURS[name]}"/>'
            for cx, cy in coords
        ]
    return out


def sweep_svg(*, title: str, ceiling: Sequence[Point], optledger: Sequence[Point]) -> str:
    """Requests/s (left) and p99 in ms (right) at each connection count."""
    series = {"ceiling": ceiling, "optledger": optledger}
    connections = sorted({int(p["connections"] or 0) for s in series.values() for p in s})
    body = [
        f'<text x="{WIDTH}" y="{HEIGHT + 22}" text-anchor="middle" font-weight="bold">'
        f"{escape(title)}</text>",
        *_panel(
            x0=0,
            title="requests/s",
            key="throughput",
            series=series,
            connections=connections,
        ),
        *_panel(x0=WIDTH, title="p99 (ms)", key="p99_ms", series=series, connections=connections),
    ]
    legend_y = HEIGHT + 40
    for offset, (name, colour) in enumerate(COLOURS.items()):
        lx = WIDTH - 120 + offset * 130
        body.append(
            f'<line x1="{lx}" x2="{lx + 24}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<text x="{lx + 30}" y="{legend_y}">{name}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * WIDTH}" height="{HEIGHT + 52}" '
        f'font-family="sans-serif" font-size="11">'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>\n'
    )
