"""The house rules, checked from the code's own imports: one direction for data, no circles.

- ``gates/`` imports nothing of ours; ``storage/`` imports only ``gates`` (types) and itself.
- No import circle anywhere in bot/, gates/, storage/ (lazy and TYPE_CHECKING imports count too:
  a circle hidden in a function is still a circle a newcomer has to untangle).
- Production code never imports ``bot/demo`` (the Slack stand-in, simulated users, sandbox); the
  one door is the ``releasegate demo`` command itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "gates", "storage")
# The `demo` subcommand is the demo's entry point: the only production line allowed to open bot/demo.
DEMO_DOOR = {("bot.cli.main", "bot.demo.walkthrough")}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (REPO / pkg).rglob("*.py"):
            if "migrations" in p.parts:
                continue
            out[_module_name(p)] = p
    return out


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` names the submodule; any other name comes from pkg itself.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            # The longest known module that the import names (a name from a module is that module).
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(p, m, known) for m, p in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_gates_import_nothing_of_ours_and_storage_only_gates() -> None:
    bad = []
    for mod, deps in _graph().items():
        for d in deps:
            if mod.startswith("gates") and not d.startswith("gates"):
                bad.append((mod, d))
            if mod.startswith("storage") and d.split(".")[0] not in ("gates", "storage"):
                bad.append((mod, d))
    assert bad == []


def test_production_code_never_imports_the_demo() -> None:
    bad = sorted(
        (mod, d)
        for mod, deps in _graph().items()
        if not mod.startswith("bot.demo")
        for d in deps
        if d.startswith("bot.demo") and (mod, d) not in DEMO_DOOR
    )
    assert bad == []


def test_the_rule_checker_sees_circles_and_demo_imports(tmp_path: Path) -> None:
    # The checks above can fail: a two-module circle is found, and so is a lazy demo import.
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert _cycles(graph) == [["a", "b"]]
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from bot.demo.sandbox import Sandbox\n")
    assert _imports(src, "bot.x", {"bot.demo.sandbox", "bot.x"}) == {"bot.demo.sandbox"}


def test_the_wheel_leaves_the_demo_out() -> None:
    import tomllib

    from setuptools import find_packages

    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(str(REPO), include=find["include"], exclude=find.get("exclude", []))
    assert "bot.release" in packages and "bot.drill" in packages
    assert [p for p in packages if p.startswith("bot.demo")] == []
