"""Charts as server-rendered SVG: no JavaScript, no chart library, readable on a phone.

Every chart has a <title> and text labels, so it reads without colour and to a screen reader.
"""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

from casebridge.db.dashboard_queries import DepartmentRates
from casebridge.web.i18n import Translator

PALETTE = ["#1d4e89", "#e07a1f", "#2e8b57", "#b42318", "#7a4eab", "#0f8b8d", "#a8841a", "#5c6b7a"]
ACK, DONE, MUTED = "#1d4e89", "#2e8b57", "#d0d6de"


def _pct(rate: float | None) -> str:
    return f"{rate * 100:.0f}%" if rate is not None else "—"


def department_rates(rows: list[DepartmentRates], t: Translator) -> Markup:
    """Two horizontal bars per department (on-time acknowledgement, on-time completion), 0–100%."""
    if not rows:
        return Markup(f'<p class="muted">{escape(t("dash.no_data"))}</p>')
    label_w, bar_w, row_h = 170, 230, 56
    width, height = label_w + bar_w + 60, 40 + row_h * len(rows)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(t('dash.rates'))}</title>",
        f'<rect x="{label_w}" y="6" width="10" height="10" fill="{ACK}"/>'
        f'<text x="{label_w + 14}" y="15" class="legend">{escape(t("dash.ack_rate"))}</text>',
        f'<rect x="{label_w + 130}" y="6" width="10" height="10" fill="{DONE}"/>'
        f'<text x="{label_w + 144}" y="15" class="legend">{escape(t("dash.done_rate"))}</text>',
    ]
    for i, row in enumerate(rows):
        y = 30 + i * row_h
        name = t.department(row.department)
        parts.append(f'<text x="0" y="{y + 14}" class="label">{escape(name[:14])}</text>')
        parts.append(
            f'<text x="0" y="{y + 32}" class="sub">{escape(t("dash.open_overdue", open=row.open, overdue=row.overdue))}'
            "</text>"
        )
        for j, (rate, colour, count) in enumerate(
            ((row.ack_rate, ACK, row.acknowledged), (row.completion_rate, DONE, row.completed))
        ):
            by = y + 4 + j * 20
            parts.append(f'<rect x="{label_w}" y="{by}" width="{bar_w}" height="14" fill="{MUTED}" rx="2"/>')
            if rate is not None:
                parts.append(
                    f'<rect x="{label_w}" y="{by}" width="{bar_w * rate:.1f}" height="14" fill="{colour}" rx="2"/>'
                )
            parts.append(
                f'<text x="{label_w + bar_w + 6}" y="{by + 12}" class="value">{_pct(rate)}'
                f'<tspan class="sub"> /{count}</tspan></text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def categories_by_week(weeks: list[date], series: dict[str, list[int]], t: Translator) -> Markup:
    """Stacked columns: cases taken in per week, one colour per category, with a legend."""
    total = [sum(values[i] for values in series.values()) for i in range(len(weeks))]
    if not any(total):
        return Markup(f'<p class="muted">{escape(t("dash.no_data"))}</p>')
    left, top, plot_w, plot_h = 28, 10, 420, 160
    legend_rows = (len(series) + 2) // 3
    width, height = left + plot_w + 10, top + plot_h + 24 + legend_rows * 18
    peak = max(total)
    step = plot_w / len(weeks)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(t('dash.by_category'))}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#9aa5b1"/>',
        f'<text x="{left - 4}" y="{top + 8}" class="axis" text-anchor="end">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" class="axis" text-anchor="end">0</text>',
    ]
    colours = {category: PALETTE[i % len(PALETTE)] for i, category in enumerate(series)}
    for i, monday in enumerate(weeks):
        x = left + i * step + step * 0.15
        y: float = top + plot_h
        for category, values in series.items():
            if values[i]:
                h = plot_h * values[i] / peak
                y -= h
                tip = f"{t.category(category)} {monday:%m-%d}: {values[i]}"
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                    f'fill="{colours[category]}"><title>{escape(tip)}</title></rect>'
                )
        if total[i]:
            parts.append(
                f'<text x="{x + step * 0.35:.1f}" y="{y - 3:.1f}" class="value" text-anchor="middle">{total[i]}</text>'
            )
        if (len(weeks) - 1 - i) % 2 == 0:
            parts.append(
                f'<text x="{x + step * 0.35:.1f}" y="{top + plot_h + 14}" class="axis" '
                f'text-anchor="middle">{monday:%m-%d}</text>'
            )
    for i, (category, colour) in enumerate(colours.items()):
        lx, ly = left + (i % 3) * 140, top + plot_h + 26 + (i // 3) * 18
        parts.append(
            f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{ly + 9}" class="legend">{escape(t.category(category))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def ring(rate: float | None, label: str, t: Translator) -> Markup:
    """A single rate as a ring with the percentage in the middle."""
    radius, stroke = 42, 12
    circumference = 2 * 3.14159265 * radius
    filled = circumference * (rate or 0)
    return Markup(
        '<svg class="ring" viewBox="0 0 110 110" role="img" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)} {_pct(rate)}</title>"
        f'<circle cx="55" cy="55" r="{radius}" fill="none" stroke="{MUTED}" stroke-width="{stroke}"/>'
        f'<circle cx="55" cy="55" r="{radius}" fill="none" stroke="{DONE}" stroke-width="{stroke}" '
        f'stroke-dasharray="{filled:.1f} {circumference:.1f}" transform="rotate(-90 55 55)"/>'
        f'<text x="55" y="61" text-anchor="middle" class="big">{_pct(rate)}</text></svg>'
    )
