"""One report, two renderings: a self-contained HTML page (images inlined as base64, no network)
and its Markdown twin (images linked to the PNG files beside it). Sections hold plain blocks so
both renderings come from the same content."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Image:
    name: str  # key of the figure (file stem of its PNG)
    caption: str = ""


@dataclass(frozen=True)
class KeyFigures:
    """The few numbers a reader looks for first, each with its label (``{"test mIoU": "63.1 %"}``)."""

    figures: Mapping[str, str]


@dataclass(frozen=True)
class Note:
    """A paragraph; ``missing`` marks what is absent and says how to produce it."""

    text: str
    missing: bool = False


Block = Table | Image | Note | KeyFigures


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em;max-width:100%}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:right;overflow-wrap:anywhere}th{background:#eee}
td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
img{max-width:100%;height:auto;border:1px solid #ddd}
.missing{background:#fff4e5;border-left:4px solid #f90;padding:.5em}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
.key{display:flex;flex-wrap:wrap;gap:.75em;margin:1em 0}
.key div{border:1px solid #bbb;border-radius:4px;padding:.4em .8em;background:#f6f8fa}
.key b{display:block;font-size:1.6em}.key span{font-size:.85em;color:#555}
@media (max-width:900px){body{margin:1em auto}table{font-size:.75em}th,td{padding:.2em .3em}}
"""


def _cell(value: object) -> object:
    """Floats to 4 significant digits; what was not measured (None, NaN: quoted-only rows) blank."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else value


def _fmt(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.map(_cell)


def to_html(title: str, sections: list[Section], figures: Mapping[str, bytes]) -> str:
    """The whole report as one HTML page; every figure is a ``data:image/png;base64`` URI."""
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><nav><ul>"
    ]
    parts += [f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>" for i, s in enumerate(sections)]
    parts.append("</ul></nav>")
    for i, section in enumerate(sections):
        parts.append(f"<section id='s{i}'><h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Note):
                css = " class='missing'" if block.missing else ""
                parts.append(f"<p{css}>{html.escape(block.text)}</p>")
            elif isinstance(block, KeyFigures):
                items = (
                    f"<div><b>{html.escape(value)}</b><span>{html.escape(label)}</span></div>"
                    for label, value in block.figures.items()
                )
                parts.append(f"<div class='key'>{''.join(items)}</div>")
            elif isinstance(block, Table):
                table = _fmt(block.frame).to_html(index=False, border=0, escape=True)
                caption = f"<caption>{html.escape(block.caption)}</caption>" if block.caption else ""
                parts.append(table.replace("<thead>", f"{caption}<thead>", 1))
            else:
                data = base64.b64encode(figures[block.name]).decode("ascii")
                parts.append(
                    f"<figure><img alt='{html.escape(block.name)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def to_markdown(title: str, sections: list[Section], figure_dir: str) -> str:
    """The same report in Markdown; figures link to ``<figure_dir>/<name>.png`` (relative)."""
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Note):
                lines += [f"> **Missing:** {block.text}" if block.missing else block.text, ""]
            elif isinstance(block, KeyFigures):
                lines += [" · ".join(f"**{value}** {label}" for label, value in block.figures.items()), ""]
            elif isinstance(block, Table):
                lines += [f"**{block.caption}**", ""] if block.caption else []
                lines += [_fmt(block.frame).to_markdown(index=False), ""]
            else:
                lines += [f"![{block.caption}]({figure_dir}/{block.name}.png)", "", f"*{block.caption}*", ""]
    return "\n".join(lines)
