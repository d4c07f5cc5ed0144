"""The package's shape holds: rooms by concern, no import cycle, the UI libraries only under cli/.

Read from the code's own imports (every import, lazy ones included; `if TYPE_CHECKING:` blocks,
which only name types, are left out), so a new cycle or a stray `import rich` fails here first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import seqcast

SRC = Path(seqcast.__file__).parent
UI_LIBRARIES = ("typer", "click", "rich")
SUBPACKAGES = ("cli", "data", "inputs", "models", "forecast", "runs", "reports")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, resolved to seqcast's own modules where it names one."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from seqcast.cli import data` names a module, not a value
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in MODULES else node.module)
    return names


GRAPH = {name: {m for m in imports_of(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_ui_libraries_only_under_cli() -> None:
    offenders = sorted(
        f"{name} imports {lib}" for name, path in MODULES.items() if not name.startswith("seqcast.cli")
        for lib in imports_of(path) if lib.split(".")[0] in UI_LIBRARIES
    )
    assert offenders == []


def test_rooms_stay_small() -> None:
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert len(top) <= 8, top
    for package in SUBPACKAGES:
        modules = list((SRC / package).glob("*.py"))
        assert len(modules) <= 14, (package, len(modules))
    long_modules = {name: n for name, path in MODULES.items()
                    if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600}
    assert long_modules == {}


def test_few_long_functions() -> None:
    long_functions = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    long_functions.append(f"{name}.{node.name} ({length} lines)")
    assert len(long_functions) <= 3, long_functions
