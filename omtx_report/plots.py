"""Small static SVG plots (no JavaScript, no plotting library): a histogram, a scatter and
horizontal bars (counts by name).

Above `DENSITY_THRESHOLD` points a scatter is drawn as a grid of shaded cells, so the SVG
stays a few kilobytes at 100,000 targets instead of one element per point.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

WIDTH, HEIGHT = 420, 300
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 30, 46
DENSITY_THRESHOLD = 2000
DENSITY_CELLS = 60
ACCENT = "#2b6cb0"


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step) + 1)]


def _span(values: np.ndarray) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    if high == low:
        return low - 0.5, high + 0.5
    pad = (high - low) * 0.04
    return low - pad, high + pad


class _Frame:
    """Maps data to pixels and draws the axes, ticks and labels of one plot."""

    def __init__(self, x_span, y_span, title: str, x_label: str, y_label: str):
        self.x_span, self.y_span = x_span, y_span
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
            f"<title>{escape(title)}</title>",
            f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13" '
            f'font-weight="bold">{escape(title)}</text>',
        ]
        self._axes(x_label, y_label)

    def x(self, value):
        low, high = self.x_span
        return LEFT + (value - low) / (high - low) * (WIDTH - LEFT - RIGHT)

    def y(self, value):
        low, high = self.y_span
        return HEIGHT - BOTTOM - (value - low) / (high - low) * (HEIGHT - TOP - BOTTOM)

    def _axes(self, x_label: str, y_label: str) -> None:
        bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
        self.parts.append(f'<path d="M{LEFT} {TOP}V{bottom}H{right}" fill="none" stroke="#555"/>')
        for tick in _nice_ticks(*self.x_span):
            px = self.x(tick)
            self.parts.append(
                f'<path d="M{px:.1f} {bottom}v4" stroke="#555"/><text x="{px:.1f}" '
                f'y="{bottom + 15}" text-anchor="middle">{tick:g}</text>'
            )
        for tick in _nice_ticks(*self.y_span):
            py = self.y(tick)
            self.parts.append(
                f'<path d="M{LEFT} {py:.1f}h-4" stroke="#555"/><text x="{LEFT - 6}" '
                f'y="{py + 4:.1f}" text-anchor="end">{tick:g}</text>'
            )
        self.parts.append(
            f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
            f'<text transform="translate(14 {(TOP + bottom) / 2}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )

    def svg(self) -> str:
        return "".join(self.parts) + "</svg>"


def _empty(title: str, reason: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif"><text x="{WIDTH / 2}" '
        f'y="{HEIGHT / 2}" text-anchor="middle">{escape(title)}: {escape(reason)}</text></svg>'
    )


def histogram(
    values,
    *,
    title: str,
    x_label: str,
    bins: int = 30,
    mark: float | None = None,
    empty: str = "no completed targets",
) -> str:
    """Counts per bin; `mark` draws a dashed line at that value (a threshold)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return _empty(title, empty)
    marks = [] if mark is None else [mark]
    counts, edges = np.histogram(values, bins=bins, range=_span(np.append(values, marks)))
    frame = _Frame(
        (edges[0], edges[-1]), (0, max(1, counts.max()) * 1.05), title, x_label, "targets"
    )
    for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        if count:
            top = frame.y(count)
            frame.parts.append(
                f'<rect x="{frame.x(left):.1f}" y="{top:.1f}" '
                f'width="{max(frame.x(right) - frame.x(left) - 1, 1):.1f}" '
                f'height="{frame.y(0) - top:.1f}" fill="{ACCENT}"><title>{count} in '
                f"[{left:.3g}, {right:.3g})</title></rect>"
            )
    for value in marks:
        frame.parts.append(
            f'<path d="M{frame.x(value):.1f} {TOP}V{HEIGHT - BOTTOM}" stroke="#c53030" '
            f'stroke-dasharray="4 3"><title>{value:g}</title></path>'
        )
    return frame.svg()


def scatter(
    x_values,
    y_values,
    *,
    title: str,
    x_label: str,
    y_label: str,
    empty: str = "no completed targets",
) -> str:
    x_values = np.asarray(x_values, dtype=float)
    y_values = np.asarray(y_values, dtype=float)
    both = np.isfinite(x_values) & np.isfinite(y_values)
    x_values, y_values = x_values[both], y_values[both]
    if x_values.size == 0:
        return _empty(title, empty)
    frame = _Frame(_span(x_values), _span(y_values), title, x_label, y_label)
    if x_values.size <= DENSITY_THRESHOLD:
        frame.parts.extend(
            f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.5" fill="{ACCENT}" '
            f'fill-opacity="0.6"/>'
            for x, y in zip(x_values, y_values, strict=True)
        )
        return frame.svg()
    counts, x_edges, y_edges = np.histogram2d(
        x_values, y_values, bins=DENSITY_CELLS, range=[frame.x_span, frame.y_span]
    )
    shade = np.log1p(counts) / np.log1p(counts.max())
    for i, j in zip(*np.nonzero(counts), strict=True):
        left, top = frame.x(x_edges[i]), frame.y(y_edges[j + 1])
        frame.parts.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{frame.x(x_edges[i + 1]) - left:.1f}" '
            f'height="{frame.y(y_edges[j]) - top:.1f}" fill="{ACCENT}" '
            f'fill-opacity="{0.15 + 0.85 * shade[i, j]:.2f}"/>'
        )
    frame.parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{TOP + 10}" text-anchor="end" fill="#555">'
        f"density of {x_values.size:,} targets</text>"
    )
    return frame.svg()


BAR_HEIGHT = 16


def bars(counts: dict[str, int], *, title: str, of: int, empty: str) -> str:
    """One horizontal bar per name, longest first, with its count and share of `of`."""
    if not counts:
        return _empty(title, empty)
    label_width, height = 110, TOP + BAR_HEIGHT * len(counts) + 12
    longest = max(counts.values())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    span = WIDTH - label_width - RIGHT - 60
    for row, (name, count) in enumerate(counts.items()):
        y = TOP + row * BAR_HEIGHT
        width = max(span * count / longest, 1)
        share = f"{count} of {of} ({count / of:.0%})" if of else str(count)
        parts += [
            f'<text x="{label_width - 6}" y="{y + 11}" text-anchor="end">{escape(name)}</text>',
            f'<rect x="{label_width}" y="{y + 2}" width="{width:.1f}" height="{BAR_HEIGHT - 4}" '
            f'fill="{ACCENT}"><title>{escape(name)}: {share}</title></rect>',
            f'<text x="{label_width + width + 4:.1f}" y="{y + 11}">{escape(share)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)
