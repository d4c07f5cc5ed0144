"""Rendering a report: one self-contained HTML page, or Markdown with its charts beside it.

The HTML references nothing outside itself: charts are inline base64 PNGs, the style sheet is
in the page, there are no scripts, fonts or links except to anchors in the page.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from seqcast import fileio
from seqcast.errors import ConfigError
from seqcast.reports.blocks import Callout, Chart, Code, Columns, Document, KeyValues, Link, Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Format = Literal["html", "md"]


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2933;
max-width:1100px;margin:2em auto;padding:0 1.5em;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.1em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #dee2e6;
padding-bottom:.2em}.sub{color:#868e96;margin-top:0}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{padding:.25em .8em;border-bottom:1px solid #e9ecef;text-align:left;vertical-align:top}
th{background:#f8f9fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{background:none;font-weight:600;color:#495057}
img{max-width:100%;height:auto;border:1px solid #e9ecef}
nav a{margin-right:1em;color:#d9480f;text-decoration:none}
code{background:#f1f3f5;padding:.1em .3em;border-radius:3px}
pre code{display:block;padding:.6em .8em;white-space:pre-wrap;word-break:break-word}
figure{margin:.5em 0}.callout{padding:.6em 1em;border-left:5px solid #868e96;background:#f8f9fa;font-weight:600}
.callout.good{border-color:#2f9e44;background:#ebfbee}.callout.bad{border-color:#e03131;background:#fff5f5}
.columns{display:flex;flex-wrap:wrap;gap:0 2.5em}.columns h3{font-size:1em;margin:.6em 0 0}
"""


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _html_kv(block: KeyValues) -> str:
    e = html.escape
    return '<table class="kv">' + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in block.items) + \
        "</table>"


def _html_cell(cell: Any) -> str:
    if isinstance(cell, Link):
        return f'<a href="{html.escape(cell.href)}">{html.escape(cell.text)}</a>'
    return html.escape(str(cell))


def render_html(doc: Document) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(doc.title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{e(doc.title)}</h1>", f'<p class="sub">{e(doc.subtitle)}</p>',
           "<nav>" + "".join(f'<a href="#{_anchor(s.title)}">{e(s.title)}</a>' for s in doc.sections) + "</nav>"]
    for sec in doc.sections:
        out.append(f'<h2 id="{_anchor(sec.title)}">{e(sec.title)}</h2>')
        for block in sec.blocks:
            if isinstance(block, str):
                out.append(f"<p>{e(block)}</p>")
            elif isinstance(block, KeyValues):
                out.append(_html_kv(block))
            elif isinstance(block, Callout):
                out.append(f'<p class="callout {e(block.tone)}">{e(block.text)}</p>')
            elif isinstance(block, Code):
                out.append(f"<pre><code>{e(block.text)}</code></pre>")
            elif isinstance(block, Columns):
                out.append('<div class="columns">' + "".join(
                    f"<div><h3>{e(title)}</h3>{_html_kv(kv)}</div>" for title, kv in block.groups) + "</div>")
            elif isinstance(block, Table):
                head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
                body = "".join(
                    "<tr>" + "".join(
                        f'<td{" class=num" if block.numeric and i else ""}>{_html_cell(c)}</td>'
                        for i, c in enumerate(row)
                    ) + "</tr>" for row in block.rows)
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(block, Chart):
                data = base64.b64encode(_png(block.figure)).decode("ascii")
                out.append(f'<figure><img alt="{e(block.alt)}" src="data:image/png;base64,{data}"></figure>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")
"""What could make Markdown of text copied from data: emphasis, links, code, raw HTML (<...>,
entities), table cells, strikethrough; each is written backslash-escaped (CommonMark: a literal)."""


def _md_escape(text: Any) -> str:
    """Plain text as Markdown that renders as that text: never HTML, a link or emphasis; one line."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\r", " ").replace("\n", " ")
    return "\\" + escaped if escaped[:1] in ("#", "+", "-", "=") else escaped  # no heading or list either


def _md_code(text: str) -> list[str]:
    """A fenced code block that text cannot close: the fence is longer than any run of backticks in it."""
    fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", text)), default=0))
    return [fence, text, fence, ""]


def _md_cell(text: Any) -> str:
    if isinstance(text, Link):
        destination = _md_destination(text.href).replace("|", "\\|")  # a table cell's own delimiter
        return f"[{_md_text(text.text)}]({destination})"
    return _md_escape(text)


def _md_destination(href: str) -> str:
    """A CommonMark link destination that any file name survives: spaces and brackets are fine
    inside <...>; a backslash, <, > and a line break are escaped, and % is written %25 (a renderer
    would read "a%20b" as "a b")."""
    for char, escaped in (("\\", "\\\\"), ("<", "\\<"), (">", "\\>"), ("%", "%25"), ("\n", "%0A"),
                          ("\r", "%0D")):
        href = href.replace(char, escaped)
    return f"<{href}>"


def _md_text(text: str) -> str:
    """Text inside [...] (a link's or an image's): escaped as any text copied from data."""
    return _md_escape(text)


def _md_kv(block: KeyValues) -> list[str]:
    return ["| | |", "|---|---|", *[f"| **{_md_cell(k)}** | {_md_cell(v)} |" for k, v in block.items], ""]


def render_markdown(doc: Document, path: Path) -> tuple[str, dict[Path, bytes]]:
    """Markdown text plus the chart files it links to (relative to path's folder)."""
    assets: dict[Path, bytes] = {}
    folder = f"{path.stem}_files"
    esc = _md_escape
    out = [f"# {esc(doc.title)}", "", f"*{esc(doc.subtitle)}*", ""]
    for sec in doc.sections:
        out += [f"## {esc(sec.title)}", ""]
        for block in sec.blocks:
            if isinstance(block, str):
                out += [esc(block), ""]
            elif isinstance(block, KeyValues):
                out += _md_kv(block)
            elif isinstance(block, Callout):
                out += [f"**{esc(block.text)}**", ""]
            elif isinstance(block, Code):
                out += _md_code(block.text)
            elif isinstance(block, Columns):
                for title, kv in block.groups:
                    out += [f"*{esc(title)}*", "", *_md_kv(kv)]
            elif isinstance(block, Table):
                out.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
                out.append("|" + "|".join("---" if i == 0 or not block.numeric else "---:"
                                          for i in range(len(block.headers))) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                out.append("")
            elif isinstance(block, Chart):
                rel = f"{folder}/{block.name}.png"
                assets[path.parent / rel] = _png(block.figure)
                out += [f"![{_md_text(block.alt)}]({_md_destination(rel)})", ""]
    return "\n".join(out), assets


def write(doc: Document, path: Path, fmt: Format = "html") -> Path:
    """Render doc to path atomically (Markdown: its charts beside it in <stem>_files/)."""
    if fmt == "html":
        fileio.write_text(path, render_html(doc))
    elif fmt == "md":
        text, assets = render_markdown(doc, path)
        for asset, data in assets.items():
            fileio.make_folder(asset.parent)  # one line when a file <stem>_files is in the way
            fileio.write_bytes(asset, data)
        fileio.write_text(path, text)
    else:
        raise ConfigError(f"--format must be html or md, got {fmt!r}")
    return path
