"""A bounded, unambiguous YAML reader for the small files people write by hand (run
configs, price overrides).

`yaml.safe_load` has two traps for such files:

* aliases are expanded by whoever walks the result: nine nested anchors of ten aliases each
  are 10^9 values in a 1 KB file. PyYAML builds them as shared references (cheap), but
  validation and the error message that shows the bad value walk them all (4 GB used);
* a key given twice silently keeps the last value, so `max_tokens: 256` ... `max_tokens:
  25600` costs 100x with no word said.

`load` refuses both, and nesting too deep for the parser, with one sentence each, before
anything is expanded. Errors are `yaml.YAMLError` subclasses carrying `problem` and
`problem_mark`, so callers format them like any other YAML error.
"""
from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# Expanded size of a document, in nodes plus scalar characters: a config without aliases
# is about its own size (1 MB at most), so twice that leaves room for honest anchors.
MAX_EXPANDED = 2_000_000
MERGE_TAG = "tag:yaml.org,2002:merge"


class BoundedYAMLError(yaml.YAMLError):
    """A document refused before construction; `problem` is one sentence."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class DuplicateKeyError(BoundedYAMLError):
    """A mapping names the same key twice."""


class AliasBudgetError(BoundedYAMLError):
    """Aliases expand past MAX_EXPANDED, or an alias refers to its own container."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that measures the composed document before constructing it and refuses
    duplicate keys (merge keys `<<` may still be overridden, as YAML intends)."""

    def compose_document(self) -> Node:
        node = super().compose_document()
        check_expansion(node)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        if isinstance(node, MappingNode):
            _refuse_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)


def _refuse_duplicates(loader: yaml.SafeLoader, node: MappingNode) -> None:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG or not isinstance(key_node, ScalarNode):
            continue
        key = loader.construct_object(key_node)
        try:
            first = seen.setdefault(key, key_node.start_mark)
        except TypeError:  # unhashable: SafeConstructor reports it
            continue
        if first is not key_node.start_mark:
            raise DuplicateKeyError(f"key '{_short(str(key))}' is given twice in one mapping (first on line "
                                    f"{first.line + 1}); YAML would silently keep the last one",
                                    key_node.start_mark)


def check_expansion(root: Node | None, limit: int = MAX_EXPANDED) -> int:
    """The size of `root` with every alias expanded (nodes + scalar characters), computed
    over the shared node graph without expanding it; AliasBudgetError past `limit` or on an
    alias that contains itself. Iterative: deep nesting must not hit Python's recursion."""
    if root is None:
        return 0
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[key] > limit:
                raise AliasBudgetError(f"aliases expand this document past {limit:,} values; a run config "
                                       "needs a few hundred (anchors nested inside anchors multiply)",
                                       node.start_mark)
            continue
        if key in sizes:
            continue
        if isinstance(node, ScalarNode):
            sizes[key] = 1 + len(node.value)
            continue
        if key in on_path:
            raise AliasBudgetError("an alias refers to the mapping or list that contains it (a loop)",
                                   node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise AliasBudgetError("an alias refers to the mapping or list that contains it (a loop)",
                                       child.start_mark)
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load(text: str) -> Any:
    """yaml.safe_load, bounded (see the module docstring). Nesting too deep for PyYAML's
    recursive parser is a BoundedYAMLError too, not a RecursionError."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise BoundedYAMLError("nested too deeply") from None
    finally:
        loader.dispose()


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _unquoted(match: re.Match) -> str:
    """Keep PyYAML's own words ('<scalar>', ':', a single character); drop text of the file."""
    token = match.group(0)
    return token if token[1:2] == "<" or len(token) <= 4 else "'...'"


def problem_of(exc: yaml.YAMLError) -> str:
    """What is wrong, in PyYAML's words but without the text it quotes from the file (an alias
    name, a tag): the file may not be the YAML it was given as (a wrong path, /etc/shadow),
    and its content must not be echoed. Our own sentences (BoundedYAMLError) quote only a
    mapping key."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, BoundedYAMLError):
        return problem
    return _QUOTED.sub(_unquoted, problem)
