"""The package's shape as docs/design.md draws it: stages import only the stages before them, no import
cycle (imports inside functions count too), no module over 400 lines."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "twitterbot"
SHARED = {"twitterbot", "twitterbot.config", "twitterbot.errors", "twitterbot.fsutil", "twitterbot.backend"}
# each stage and the stages it may import (docs/design.md, "Packages and modules"); all may import SHARED
MAY_IMPORT = {
    "corpus": set(),
    "training": {"corpus"},
    "search": {"training", "corpus"},
    "writing": {"training", "corpus"},
    "web": {"writing", "training", "corpus"},
    "social": {"writing", "training", "corpus"},
    "cli": {"corpus", "training", "search", "writing", "web", "social"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules `path` imports anywhere in it (from a package: the module named, if one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


def stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in MAY_IMPORT else None


def test_stages_import_only_the_stages_before_them():
    known = modules()
    wrong = []
    for module, path in known.items():
        for imported in imports(path, known):
            here, there = stage(module), stage(imported)
            if there is None or there == here:
                continue
            if here is None or there not in MAY_IMPORT[here]:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_no_import_cycle():
    known = modules()
    graph = {module: imports(path, known) - {module} for module, path in known.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for imported in graph[module]:
            assert imported not in path, " → ".join(path[path.index(imported) :] + [imported])
            if imported not in done:
                visit(imported, [*path, imported])
        done.add(module)

    for module in graph:
        visit(module, [module])


def test_no_module_over_400_lines():
    long = {str(path): n for path in PACKAGE.rglob("*.py") if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}
