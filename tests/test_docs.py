"""The README stays a front page whose links and commands hold; the rest is checked by `make docs`.

`mkdocs build --strict` (make docs, run by CI) fails on a broken link, anchor or API name inside
docs/; the README is not part of that site, so its links into docs/ are checked here.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc extension) gives a heading."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # no `# comment` in code
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+?)\s*$", text, flags=re.M)}


def test_readme_is_a_front_page() -> None:
    assert len(README.splitlines()) <= 300
    assert "## Quick start" in README and "## Documentation" in README


def test_readme_links_reach_pages_and_their_headings() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert len(local) >= 20, local  # the links into docs/ are the front page's point
    for link in local:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.is_file(), link
        if anchor:
            assert anchor in anchors(target), link


def test_the_slug_is_mkdocs_one() -> None:
    assert slug("The bundled sample and its licence") == "the-bundled-sample-and-its-licence"
    assert slug("backtest and --seeds — is it more than luck?") == "backtest-and-seeds-is-it-more-than-luck"


def test_readme_commands_are_what_make_and_ci_run() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z]+):", makefile, flags=re.M))
    assert {"demo", "test", "docs", "setup"} <= targets
    assert "make demo" in README and "make test" in README
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci == ["make test docs"]
    assert "`make test docs`" in README  # the README names the command CI runs
    assert "mkdocs build --strict" in makefile.split("\ndocs:")[1].split("\n\n")[0]
