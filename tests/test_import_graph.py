"""No import circles in the library (lazy imports inside functions count too), and the model
facts at the bottom of the graph: the old circle was batches -> requests -> tokens -> batches."""
from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib" / "cachecast"


def _module(path: Path) -> str:
    parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST):
    """Relative imports, skipping `if TYPE_CHECKING:` blocks (those never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            yield node
        yield from _runtime_imports(node)


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in LIB.rglob("*.py"):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in _runtime_imports(ast.parse(path.read_text())):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            deps |= {f"{target}.{a.name}" for a in node.names} if node.module is None else {target}
        edges[name] = deps
    return {m: {d for d in deps if d in edges and d != m} for m, deps in edges.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(edges[node]):
            if state.get(dep) == "open":
                found.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_circles():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_model_facts_are_the_bottom_of_the_graph():
    edges = graph()
    assert edges["cachecast.models"] <= {"cachecast.errors"}
    assert edges["cachecast.rules"] <= {"cachecast.models", "cachecast.pricing"}
    users = {m for m, deps in edges.items() if "cachecast.models" in deps}
    assert {"cachecast.requests", "cachecast.lint", "cachecast.tokens", "cachecast.batches"} <= users
