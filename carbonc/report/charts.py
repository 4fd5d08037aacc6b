"""Inline SVG charts for the HTML report, drawn from a RunReport's figures: a latency histogram,
deliveries over time by answer class, and verdicts by fault. Every text in them is escaped."""

from __future__ import annotations

from markupsafe import Markup, escape

from carbonc.report.figures import Bucket, Slice, VerdictCount
from carbonc.store.rows import OUTCOMES

WIDTH, HEIGHT, MARGIN = 640, 200, 36

#: One colour per answer class, readable on white and apart for the common colour blindnesses.
OUTCOME_COLOURS = {"2xx": "#1b7837", "3xx": "#762a83", "4xx": "#e08214", "5xx": "#b2182b", "timeout": "#2166ac",
                   "error": "#404040"}
OK_COLOUR, MISMATCHED_COLOUR = "#1b7837", "#b2182b"


def _svg(body: list[str], label: str, height: int = HEIGHT) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
                  f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">'
                  f'<title>{escape(label)}</title>{"".join(body)}</svg>')


def _ms(value: float) -> str:
    return f"{value:.2g}" if value < 10 else f"{value:,.0f}"


def latency_histogram(buckets: list[Bucket]) -> Markup:
    """Bars of attempts per latency bucket (four buckets to a doubling), labelled in ms."""
    body: list[str] = []
    if buckets:
        top = max(b.deliveries for b in buckets)
        step = (WIDTH - 2 * MARGIN) / len(buckets)
        plot = HEIGHT - 2 * MARGIN
        for i, b in enumerate(buckets):
            h = plot * b.deliveries / top
            x, y = MARGIN + i * step, HEIGHT - MARGIN - h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(step - 1, 1):.1f}" height="{h:.1f}" '
                        f'fill="#2166ac"><title>{escape(_ms(b.low_ms))}–{escape(_ms(b.high_ms))} ms: '
                        f'{b.deliveries:,}</title></rect>')
        for i in sorted({0, len(buckets) // 2, len(buckets) - 1}):
            x = MARGIN + i * step
            body.append(f'<text x="{x:.1f}" y="{HEIGHT - MARGIN + 14}" font-size="11">'
                        f'{escape(_ms(buckets[i].low_ms))} ms</text>')
        body.append(f'<text x="{MARGIN}" y="{MARGIN - 8}" font-size="11">{top:,} attempts</text>')
    return _svg(body, "latency histogram")


def deliveries_over_time(slices: list[Slice]) -> Markup:
    """Stacked bars of attempts per sixtieth of the sending time, coloured by answer class."""
    body: list[str] = []
    if slices:
        top = max(sum(s.outcomes.values()) for s in slices)
        step = (WIDTH - 2 * MARGIN) / 60
        plot = HEIGHT - 2 * MARGIN
        for s in slices:
            index = round(s.start_ms / max(slices[-1].start_ms, 1) * 59) if len(slices) > 1 else 0
            y = float(HEIGHT - MARGIN)
            for outcome in OUTCOMES:
                n = s.outcomes.get(outcome, 0)
                if n:
                    h = plot * n / top
                    y -= h
                    body.append(f'<rect x="{MARGIN + index * step:.1f}" y="{y:.1f}" width="{max(step - 1, 1):.1f}" '
                                f'height="{h:.1f}" fill="{OUTCOME_COLOURS[outcome]}"><title>+{s.start_ms:,} ms: '
                                f'{n:,} {outcome}</title></rect>')
        for i, outcome in enumerate(OUTCOMES):
            x = MARGIN + i * 90
            body.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{OUTCOME_COLOURS[outcome]}"/>'
                        f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="11">{outcome}</text>')
        body.append(f'<text x="{MARGIN}" y="{MARGIN - 8}" font-size="11">{top:,} attempts per slice</text>')
    return _svg(body, "deliveries over time by outcome")


def verdicts_by_fault(rows: list[VerdictCount]) -> Markup:
    """A horizontal bar per fault: answers that matched the expected verdict, then those that did not."""
    bar, gap, label = 18, 8, 220
    height = max(HEIGHT // 2, MARGIN + len(rows) * (bar + gap))
    body: list[str] = []
    top = max((r.ok + r.mismatched for r in rows), default=0)
    for i, r in enumerate(rows):
        y = 10 + i * (bar + gap)
        scale = (WIDTH - label - 70) / top if top else 0
        ok_w, bad_w = r.ok * scale, r.mismatched * scale
        body.append(f'<text x="0" y="{y + 13}" font-size="11">{escape(r.key[:36])}</text>'
                    f'<rect x="{label}" y="{y}" width="{ok_w:.1f}" height="{bar}" fill="{OK_COLOUR}">'
                    f'<title>{r.ok:,} ok</title></rect>'
                    f'<rect x="{label + ok_w:.1f}" y="{y}" width="{bad_w:.1f}" height="{bar}" '
                    f'fill="{MISMATCHED_COLOUR}">'
                    f'<title>{r.mismatched:,} mismatched</title></rect>'
                    f'<text x="{label + ok_w + bad_w + 4:.1f}" y="{y + 13}" font-size="11">'
                    f'{r.ok:,} / {r.mismatched:,}</text>')
    return _svg(body, "verdicts by fault: ok, mismatched", height)
