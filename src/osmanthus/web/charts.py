"""Charts drawn on the server as SVG: no script, readable by screen readers (a title, a
description, and the same numbers in a table beside the chart)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

__all__ = ["Bar", "histogram_svg"]


@dataclass(frozen=True)
class Bar:
    low: int
    high: int
    count: int
    band: str  # below | at | above


def bins(histogram: list[list[int]], baseline: int, width: int = 10) -> list[Bar]:
    """Scores grouped into bins of ``width`` points; the baseline gets a bin of its own."""
    counts: dict[tuple[int, int, str], int] = {}
    for score, residents in histogram:
        if score == baseline:
            key = (score, score, "at")
        else:
            low = (score // width) * width
            if low <= baseline <= low + width - 1:  # the baseline's bin is split around it
                low, high = (
                    (low, baseline - 1) if score < baseline else (baseline + 1, low + width - 1)
                )
            else:
                high = low + width - 1
            key = (low, high, "below" if score < baseline else "above")
        counts[key] = counts.get(key, 0) + residents
    return [Bar(lo, hi, n, band) for (lo, hi, band), n in sorted(counts.items())]


def histogram_svg(bars: list[Bar], *, title: str, description: str) -> str:
    """A bar chart of ``bars`` (heights on a square-root scale, so that small bands stay
    visible next to the crowd at the baseline; the table gives exact counts)."""
    width, height, pad = 640, 240, 28
    if not bars:
        return ""
    top = max(bar.count for bar in bars) ** 0.5 or 1.0
    step = (width - 2 * pad) / len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="chart-title chart-desc" class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(description)}</desc>',
    ]
    for i, bar in enumerate(bars):
        h = (bar.count**0.5) / top * (height - 2 * pad)
        x = pad + i * step
        label = str(bar.low) if bar.low == bar.high else f"{bar.low}–{bar.high}"
        parts.append(
            f'<rect class="bar {bar.band}" x="{x + 1:.1f}" y="{height - pad - h:.1f}" '
            f'width="{max(step - 2, 1):.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {bar.count:,}</title></rect>"
        )
        parts.append(
            f'<text x="{x + step / 2:.1f}" y="{height - 8}" text-anchor="middle" '
            f'font-size="10">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
