"""The blocks a report is made of: sections of tables, key-value lists, charts, links, code.

A document is built once from these (seqcast.reports.document) and rendered as HTML or Markdown
(seqcast.reports.render), so both say the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]  # str, or Link
    numeric: bool = True  # right-align every column but the first


@dataclass
class Chart:
    name: str  # file stem for Markdown
    figure: Any  # a matplotlib Figure
    alt: str


@dataclass
class Section:
    title: str
    blocks: list[Any] = field(default_factory=list)  # str (a paragraph), Table, Chart, KeyValues

    def p(self, text: str) -> Section:
        self.blocks.append(text)
        return self


@dataclass
class KeyValues:
    items: list[tuple[str, str]]


@dataclass
class Link:
    """A table cell that links to a file by relative path (sweep leaderboards)."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Code:
    """A command line to copy."""

    text: str


@dataclass
class Callout:
    """A highlighted sentence: the verdict. tone: good, bad or neutral."""

    text: str
    tone: str = "neutral"


@dataclass
class Columns:
    """Key-value lists side by side (Markdown: one after another)."""

    groups: list[tuple[str, KeyValues]]


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


# --------------------------------------------------------------------------- formatting helpers
