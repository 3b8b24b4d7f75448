"""The house rules of docs/architecture.md, checked on the source: rooms, arrows, no circle, short functions.

The imports of every module of ``voicebot/`` are read with ``ast`` (lazy imports inside functions count
too: they are arrows all the same). A failure names the offending module and import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "voicebot"

# Leaves every room may import; they import nothing of voicebot but each other.
FOUNDATION_PACKAGES = {"voicebot.french"}
FOUNDATION = {"voicebot", "voicebot.french", "voicebot.call", "voicebot.events", "voicebot.process",
              "voicebot.metrics", "voicebot.models", "voicebot.dialogue.flow"}
CAPABILITIES = {"stt", "tts", "llm", "knowledge", "telephony", "calls", "backoffice"}
# The one declared arrow between capabilities: the grounded answerer streams through the one LLM client.
SIDEWAYS = {("knowledge", "llm")}
# Which rooms each room may import (its own room is always allowed).
ALLOWED = {
    "foundation": {"foundation"},
    "settings": {"foundation"},
    **{cap: {"foundation", "settings"} | {b for a, b in SIDEWAYS if a == cap} for cap in CAPABILITIES},
    "config": {"foundation", "settings"},
    # The dialogue manager (shared by calls and `voicebot chat`): above knowledge and llm, below pipeline.
    "dialogue": {"foundation", "settings", "knowledge", "llm"},
    "pipeline": {"foundation", "settings", "config", "stt", "tts", "llm", "knowledge", "dialogue"},
    "monitor": {"foundation", "settings", "config", "calls"},
    "entry": {"foundation", "settings", "config", "pipeline", "monitor", "dialogue", *CAPABILITIES},
}
MAX_FUNCTION_LINES = 80
LENGTH_EXEMPT: set[str] = set()  # monitor/web.py:mount is cut into routers (monitor/routes/) now


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def room(module: str) -> str:
    """The room of a module: foundation, settings, a capability folder, config, pipeline, monitor or entry."""
    if module in FOUNDATION or module.split(".")[:2] in [p.split(".") for p in FOUNDATION_PACKAGES]:
        return "foundation"
    if module.endswith(".settings"):
        return "settings"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in CAPABILITIES | {"pipeline", "monitor", "dialogue"}:
        return parts[1]
    if module == "voicebot.config":
        return "config"
    return "entry"  # app, cli, __main__


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """(imported voicebot module, line) for every import statement of ``module``, lazy ones included."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] or [base]
        else:
            continue
        for name in names:
            target = _resolve(name) if name.startswith("voicebot") else None
            if target and target != module:
                yield target, node.lineno


GRAPH = {m: {t for t, _ in imports_of(m)} for m in MODULES}


def test_the_rules_see_every_room():
    rooms = {room(m) for m in MODULES}
    assert rooms == set(ALLOWED), rooms ^ set(ALLOWED)


def test_no_arrow_runs_back_up():
    wrong = []
    for module in sorted(MODULES):
        src = room(module)
        for target, line in imports_of(module):
            dst = room(target)
            if dst != src and dst not in ALLOWED[src]:
                wrong.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} {module} ({src}) -> "
                             f"{target} ({dst})")
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


def test_capability_folders_are_leaves():
    """stt/, tts/, llm/, knowledge/, telephony/, calls/ never import pipeline/, monitor/, config or app."""
    for module in MODULES:
        if room(module) in CAPABILITIES | {"foundation", "settings"}:
            upward = {t for t in GRAPH[module] if room(t) in {"pipeline", "monitor", "config", "entry"}}
            assert not upward, f"{module} imports {sorted(upward)}"


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert _cycles() == []


def test_the_cycle_finder_finds_a_circle():
    """The check above could pass by never finding anything: feed it a known circle."""
    saved = dict(GRAPH)
    try:
        GRAPH["voicebot.call"] = GRAPH["voicebot.call"] | {"voicebot.events"}
        GRAPH["voicebot.events"] = GRAPH["voicebot.events"] | {"voicebot.call"}
        assert ["voicebot.call", "voicebot.events"] in _cycles()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def _functions() -> Iterator[tuple[str, int]]:
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1


def test_no_function_is_longer_than_the_limit():
    long = sorted(f"{where} ({n} lines)" for where, n in _functions()
                  if n > MAX_FUNCTION_LINES and where.split(":")[0] not in LENGTH_EXEMPT)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)
