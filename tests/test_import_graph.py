"""No import circles in the library (lazy imports inside functions count too), between modules
and between the stage packages: each package imports only from itself and from the ones below
it in LAYERS, with the model facts at the bottom and the command line at the top."""
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


# Bottom to top. "base" is the top-level modules (errors, paths, atomic writes, bounded YAML, JSONL).
LAYERS = ("base", "facts", "store", "build", "send", "tokens", "plan", "analyse", "report", "cli")


def package(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (LIB / parts[1]).is_dir():
        return parts[1]
    return "base"


def upward_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    return sorted((m, d) for m, deps in edges.items() for d in deps if rank[package(d)] > rank[package(m)])


def test_every_package_has_a_layer():
    assert {package(m) for m in graph()} == set(LAYERS)


def test_packages_import_only_downwards():
    assert upward_imports(graph()) == []


def test_the_layer_check_finds_an_upward_import():
    assert upward_imports({"cachecast.facts.models": {"cachecast.cli"}, "cachecast.cli": set()}) == [
        ("cachecast.facts.models", "cachecast.cli")]


def test_model_facts_are_the_bottom_of_the_graph():
    edges = graph()
    assert edges["cachecast.facts.models"] <= {"cachecast.errors", "cachecast.facts.model_cache"}
    # the Models API cache it reads is checked like any input, with the base modules only
    assert edges["cachecast.facts.model_cache"] <= {"cachecast.errors", "cachecast._paths"}
    assert edges["cachecast.facts.rules"] <= {"cachecast.facts.models", "cachecast.facts.pricing"}
    users = {m for m, deps in edges.items() if "cachecast.facts.models" in deps}
    assert {"cachecast.build.requests", "cachecast.build.lint", "cachecast.tokens.count", "cachecast.build.batches"} <= users


NOTEBOOKS = sorted((LIB.parents[1] / "notebooks").glob("*.ipynb"))


def notebook_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from X import name` / `import X` in a notebook's code cells."""
    import json

    found = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.ImportFrom):
                found += [(node.module or "", a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                found += [(a.name, "") for a in node.names]
    return found


def test_notebooks_import_only_the_public_surface():
    import cachecast

    assert NOTEBOOKS
    for path in NOTEBOOKS:
        ours = [(m, n) for m, n in notebook_imports(path) if m.split(".")[0] == "cachecast"]
        assert ours, path.name
        assert all(m == "cachecast" and n in cachecast.__all__ for m, n in ours), (path.name, ours)


def test_every_public_name_resolves():
    import cachecast

    for name in cachecast.__all__:
        assert getattr(cachecast, name) is not None, name


MAX_MODULE_LINES = 600  # issue 21: a module a reader can hold; past it, split along a seam


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(LIB)): n for p in LIB.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these modules along their seams: {long}"
