"""A griffe extension for `make docs`: seqcast's docstrings are plain text, not HTML.

They name paths such as `<home>/backtests/<id>.json`; Markdown would take `<home>` for an HTML
tag and drop it from the API pages. Outside backtick code spans, `<` becomes `&lt;`.
Registered in mkdocs.yml (plugins → mkdocstrings → python → options → extensions).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_CODE_SPAN = re.compile(r"(`+)(?:.|\n)*?\1")


def escape_angle_brackets(text: str) -> str:
    """`text` with every `<` outside backtick code spans written as `&lt;`."""
    out, last = [], 0
    for span in _CODE_SPAN.finditer(text):
        out.append(text[last:span.start()].replace("<", "&lt;"))
        out.append(span.group(0))
        last = span.end()
    out.append(text[last:].replace("<", "&lt;"))
    return "".join(out)


class PlainDocstrings(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = escape_angle_brackets(obj.docstring.value)
