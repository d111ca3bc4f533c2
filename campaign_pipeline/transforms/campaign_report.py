"""The one campaign report, as Markdown and as a self-contained HTML page.

A report is a list of :class:`Section`: paragraphs, tables and charts (PNG bytes). The
Markdown names each chart's file next to it under ``reports/``; the HTML embeds every chart
as a ``data:`` URI and carries its own style, with no script and no external file, so it
can be mailed or archived as one file. Every number comes from the caller's frames.
"""

import base64
import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from campaign_pipeline.transforms.markdown import format_cell, markdown_table

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.number { text-align: right; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #555; } img { max-width: 100%; }
"""


@dataclass
class Chart:
    caption: str
    file_name: str
    png: bytes


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


def _html_cell(value) -> str:
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    return f'<td class="number">{html.escape(format_cell(value))}</td>' if numeric else f"<td>{html.escape(format_cell(value))}</td>"


def render_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for caption, frame in section.tables:
            lines += [f"*{caption}*", "", markdown_table(frame), ""]
        for chart in section.charts:
            lines += [f"![{chart.caption}]({chart.file_name})", ""]
    return "\n".join(lines)


def render_html(title: str, sections: list[Section]) -> str:
    """One HTML file: style inline, charts as data URIs, no scripts, no external files."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for index, section in enumerate(sections, start=1):
        parts.append(f'<section id="section-{index}"><h2>{html.escape(section.title)}</h2>')
        parts += [f"<p>{html.escape(paragraph)}</p>" for paragraph in section.paragraphs]
        for caption, frame in section.tables:
            head = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
            body = "".join(
                "<tr>" + "".join(_html_cell(value) for value in row) + "</tr>" for row in frame.itertuples(index=False)
            )
            parts.append(f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>")
        for chart in section.charts:
            encoded = base64.b64encode(chart.png).decode()
            parts.append(
                f'<figure><img alt="{html.escape(chart.caption)}" src="data:image/png;base64,{encoded}">'
                f"<figcaption>{html.escape(chart.caption)}</figcaption></figure>"
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def holdout_size(base_rate: float, lift: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per arm for a two-sided two-proportion test to detect ``lift`` (absolute)
    over ``base_rate`` at significance ``alpha`` with ``power``."""
    treated = min(base_rate + lift, 0.999)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    variance = base_rate * (1 - base_rate) + treated * (1 - treated)
    return int(np.ceil(z**2 * variance / lift**2))


def why_this_k(sweep: pd.DataFrame, k: int, k_min: int) -> str:
    """Why the k range starts where it does and how the elbow reads, from the sweep."""
    by_k = sweep.set_index("k")
    drops = (-by_k["inertia"].pct_change()).dropna()
    below = by_k.loc[by_k.index < k_min]
    best_below = below["silhouette"].idxmax() if len(below) else None
    text = (
        f"The elbow: inertia falls {drops.get(k_min - 1, float('nan')):.0%} from k={k_min - 2} to {k_min - 1}, "
        f"{drops.get(k_min, float('nan')):.0%} to k={k_min} and {drops.get(k_min + 1, float('nan')):.0%} to "
        f"k={k_min + 1}, so adding segments beyond {k_min} buys less and less separation. "
    )
    if best_below is not None:
        text += (
            f"k below {k_min} is excluded although k={best_below} has a silhouette of "
            f"{below.loc[best_below, 'silhouette']:.2f}: with money and purchases dominating the features, two or "
            "three clusters split customers only by how much they spend, which tells a marketer nothing that "
            f"spend alone does not; from k={k_min} segments also differ in income, children and frequency. "
        )
    return text + f"The rule then chose k={k}."
