#!/usr/bin/env python3
"""Draws docs/benchmarks/throughput.svg from docs/benchmarks/throughput.csv:
hits per second against concurrent tasks, log scales, one line per
contender. Standard library only; run it after updating the CSV:

    python3 scripts/chart.py
"""
import csv
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs/benchmarks/throughput.csv"
OUT = ROOT / "docs/benchmarks/throughput.svg"

LABELS = {
    "attribute": "#[cache_result], Redis hit",
    "by_hand": "hand-written redis-rs (GET + decode)",
    "local": "#[cache_result(local = true)], in-process hit",
}
COLORS = {"attribute": "#1f77b4", "by_hand": "#7f7f7f", "local": "#2ca02c"}
W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 420, 80, 250, 30, 50


def main():
    rows = [r for r in csv.reader(line for line in DATA.open() if not line.startswith("#"))]
    header, rows = rows[0], rows[1:]
    tasks = [int(r[0]) for r in rows]
    series = {name: [float(r[i]) for r in rows] for i, name in enumerate(header) if i > 0}
    values = [v for vs in series.values() for v in vs]
    y_lo = 10 ** math.floor(math.log10(min(values)))
    y_hi = 10 ** math.ceil(math.log10(max(values)))
    x_lo, x_hi = math.log2(min(tasks)), math.log2(max(tasks))

    def x(t):
        return LEFT + (math.log2(t) - x_lo) / (x_hi - x_lo) * (W - LEFT - RIGHT)

    def y(v):
        span = math.log10(y_hi) - math.log10(y_lo)
        return TOP + (1 - (math.log10(v) - math.log10(y_lo)) / span) * (H - TOP - BOTTOM)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
    ]
    decade = y_lo
    while decade <= y_hi:
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(decade):.1f}" '
                   f'y2="{y(decade):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(decade) + 4:.1f}" text-anchor="end">'
                   f'{decade:,.0f}</text>')
        decade *= 10
    for t in tasks:
        out.append(f'<text x="{x(t):.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 10}" '
               f'text-anchor="middle">concurrent tasks</text>')
    out.append(f'<text x="16" y="{(TOP + H - BOTTOM) / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(TOP + H - BOTTOM) / 2:.0f})">hits per second</text>')
    for row, (name, vs) in enumerate(series.items()):
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(tasks, vs))
        color = COLORS.get(name, "black")
        out.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        for t, v in zip(tasks, vs):
            out.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{color}"/>')
        ly = TOP + 10 + row * 36
        out.append(f'<line x1="{W - RIGHT + 12}" x2="{W - RIGHT + 32}" y1="{ly}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="2"/>')
        words = LABELS.get(name, name)
        first, _, rest = words.partition(", ")
        out.append(f'<text x="{W - RIGHT + 38}" y="{ly + 4}">{first}</text>')
        if rest:
            out.append(f'<text x="{W - RIGHT + 38}" y="{ly + 18}">{rest}</text>')
    out.append("</svg>")
    OUT.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
