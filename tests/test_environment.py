"""environment.yml (conda) must install the same thing as pyproject.toml and the Makefile:
the same Python, and this package editable with the same extras."""
from __future__ import annotations

import re
import tomllib

import yaml

from _fixtures import REPO


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _env() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def _extras(spec: str) -> tuple[str, set[str]]:
    """'-e .[test,docs]' -> ('.', {'test', 'docs'})."""
    m = re.fullmatch(r"-e\s+(?P<path>[^\[\s]+)(\[(?P<extras>[^\]]*)\])?", re.sub("['\"]", "", spec).strip())
    assert m, f"not an editable install spec: {spec!r}"
    return m["path"], {e.strip() for e in (m["extras"] or "").split(",") if e.strip()}


def test_python_version_matches_requires_python():
    requires = _pyproject()["project"]["requires-python"]
    minimum = re.fullmatch(r">=\s*(\d+\.\d+)", requires)
    assert minimum, f"update this test for requires-python = {requires!r}"
    pythons = [d for d in _env()["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert pythons == [f"python={minimum[1]}"]  # conda tests the oldest Python we claim to support


def test_pip_section_installs_this_package_with_all_extras():
    deps = _env()["dependencies"]
    assert "pip" in deps
    [pip] = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "dependencies belong in pyproject.toml, not in environment.yml"
    path, extras = _extras(pip[0])
    assert path == "."
    assert extras == set(_pyproject()["project"]["optional-dependencies"])


def test_makefile_installs_the_same_extras():
    makefile = (REPO / "Makefile").read_text()
    m = re.search(r"pip install[^\n]*?(-e\s+'?\.\[[^\]]*\]'?)", makefile)
    assert m, "Makefile no longer installs the package editable"
    [pip] = [d["pip"] for d in _env()["dependencies"] if isinstance(d, dict)]
    assert _extras(m[1]) == _extras(pip[0])


def test_extras_parser():
    assert _extras("-e .[test]") == (".", {"test"})
    assert _extras("-e '.[test, docs]'") == (".", {"test", "docs"})
    assert _extras("-e .") == (".", set())
