"""Validate request bodies against the `anthropic` SDK's own request TypedDicts, in the API's words.

Why: the local test server (tests/fakeapi.py) must be as strict as the real API, or a test
that passes proves nothing (a lenient server reports succeeded lines for requests the API
rejects in full). Hand-written rules drift; the SDK's TypedDicts are generated from the
API's own schema and change with every SDK release, so walking them keeps the check current:
an SDK upgrade that drops a parameter makes it "Extra inputs are not permitted" here too.

`validate(value, typ)` returns problems as "dotted.path: message" in pydantic's wording,
which is what the API answers ("temperature: Extra inputs are not permitted"). Per-model
rules (retired models, thinking modes, sampling on old models) are not the SDK's business:
they live in cachecast.facts.models and the server applies them after this.
"""
from __future__ import annotations

import os
import typing
from collections import abc
from functools import lru_cache
from typing import Any, Callable, Literal, Union, get_args, get_origin, get_type_hints

from typing_extensions import NotRequired, Required, is_typeddict

Problem = tuple[str, str]  # (dotted path, message): kept apart until the end, for comparing union members
Checker = Callable[[Any, str], list[Problem]]
SAMPLING_2023 = {"temperature": float, "top_p": float, "top_k": int}  # accepted keys under 2023-06-01 only
_MISSING = object()
_SEQUENCES = {list, tuple, abc.Iterable, abc.Sequence, abc.Collection, abc.MutableSequence}
_MAPPINGS = {dict, abc.Mapping, abc.MutableMapping}
_NOT_JSON = {bytes, os.PathLike, typing.IO}  # SDK conveniences for file input: base64 strings on the wire


# ------------------------------------------------------------------ public entry points


def validate(value: Any, typ: Any, path: str = "") -> list[str]:
    """Problems of `value` against an SDK type, as "path: message"; [] when the API's schema accepts it."""
    return [f"{where}: {message}" if where else message for where, message in checker(typ)(value, path)]


def message_params_problems(params: dict, api_version: str, path: str = "") -> list[str]:
    """A Messages create body (non-streaming), as the API validates it under `api_version`."""
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

    return _versioned(params, MessageCreateParamsNonStreaming, api_version, path)


def count_tokens_problems(body: dict, api_version: str, path: str = "") -> list[str]:
    """A count_tokens body: no max_tokens, and the same sampling rules as Messages."""
    from anthropic.types.message_count_tokens_params import MessageCountTokensParams

    return _versioned(body, MessageCountTokensParams, api_version, path)


def batch_request_problems(req: Any, api_version: str, path: str = "") -> list[str]:
    """One Message Batches line `{"custom_id", "params"}`; params as message_params_problems."""
    envelope = request_envelope_problems(req, path)
    if envelope:
        return envelope
    return message_params_problems(req["params"], api_version, _join(path, "params"))


def request_envelope_problems(req: Any, path: str = "") -> list[str]:
    """A batch line's own keys only: the part the Batches API checks at create time (its params
    are validated later, per request). The custom_id pattern is not in the SDK's types."""
    from anthropic.types.messages.batch_create_params import Request

    if not (isinstance(req, dict) and isinstance(req.get("params"), dict)):
        return validate(req, Request, path)
    inside = _join(path, "params") + "."
    return [p for p in validate({**req, "params": {}}, Request, path) if not p.startswith(inside)]


def _versioned(body: Any, typ: Any, api_version: str, path: str) -> list[str]:
    """The SDK types describe the newest version; 2023-06-01 still takes temperature/top_p/top_k."""
    if api_version != "2023-06-01" or not isinstance(body, dict):
        return validate(body, typ, path) + _version_2026_problems(body, api_version, path)
    rest = {k: v for k, v in body.items() if k not in SAMPLING_2023}
    problems = validate(rest, typ, path)
    for key, kind in SAMPLING_2023.items():
        if key in body and body[key] is not None:
            problems += validate(body[key], kind, _join(path, key))
    return problems


def _version_2026_problems(body: Any, api_version: str, path: str) -> list[str]:
    """Rules 2026-10-21 added that the SDK's types cannot express (see FACTS.md, API versions)."""
    if api_version == "2023-06-01" or not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return []
    problems = []
    for i, message in enumerate(body["messages"]):
        blocks = message.get("content") if isinstance(message, dict) else None
        for j, block in enumerate(blocks if isinstance(blocks, list) else []):
            where = _join(path, f"messages.{i}.content.{j}")
            if not isinstance(block, dict):
                continue
            if message.get("role") == "assistant" and block.get("type") == "document":
                problems.append(f"{where}: document blocks are not accepted in assistant messages "
                                f"(anthropic-version {api_version})")
            if message.get("role") == "user" and block.get("type") == "text" and block.get("citations"):
                problems.append(f"{where}.citations: must be empty on user text blocks "
                                f"(anthropic-version {api_version})")
    return problems


# ------------------------------------------------------------------ compiling a type to a checker


@lru_cache(maxsize=None)
def checker(typ: Any) -> Checker:
    """A function (value, path) -> problems for one type; memoised, so each type is resolved once."""
    origin, args = get_origin(typ), get_args(typ)
    if origin in (Required, NotRequired, typing.Annotated):
        return checker(args[0])
    if typ in (Any, object):
        return _accept
    if typ in _SCALARS:
        return _SCALARS[typ]
    if is_typeddict(typ):
        return _typeddict_checker(typ)
    if origin is Literal:
        return _literal_checker(args)
    if origin is Union:
        return _union_checker(args)
    if origin in _SEQUENCES or (origin is not None and getattr(origin, "__name__", "") == "SequenceNotStr"):
        return _list_checker(args[0] if args else Any)
    if origin in _MAPPINGS or typ in _MAPPINGS:
        return _dict_checker(args[1] if len(args) == 2 else Any)
    if typ in _NOT_JSON or origin in _NOT_JSON:
        return _SCALARS[str]
    if _is_model(typ):
        return _dict_checker(Any)  # a response model passed back: its wire form is a dict
    raise TypeError(f"cachecast.facts.sdk_types cannot check {typ!r}; teach checker() this form")


def _accept(value: Any, path: str) -> list[Problem]:
    return []


def _lazy(typ: Any) -> Callable[[], Checker]:
    """Resolve a nested type's checker on first use: the SDK's types nest recursively (tool
    results hold blocks), and looking a typing object up in a cache costs a hash of its
    whole tree each time, which was most of the run time before this."""
    box: list[Checker] = []

    def resolve() -> Checker:
        if not box:
            box.append(checker(typ))
        return box[0]
    return resolve


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _problem(path: str, message: str) -> list[Problem]:
    return [(path, message)]


def _scalar(test: Callable[[Any], bool], message: str) -> Checker:
    def check(value: Any, path: str) -> list[Problem]:
        return [] if test(value) else _problem(path, message)
    return check


_SCALARS: dict[Any, Checker] = {
    str: _scalar(lambda v: isinstance(v, str), "Input should be a valid string"),
    int: _scalar(lambda v: isinstance(v, int) and not isinstance(v, bool), "Input should be a valid integer"),
    float: _scalar(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "Input should be a valid number"),
    bool: _scalar(lambda v: isinstance(v, bool), "Input should be a valid boolean"),
    type(None): _scalar(lambda v: v is None, "Input should be None"),
}


def _is_model(typ: Any) -> bool:
    try:
        from pydantic import BaseModel
        return isinstance(typ, type) and issubclass(typ, BaseModel)
    except ImportError:  # pragma: no cover - the SDK depends on pydantic
        return False


def _literal_checker(allowed: tuple) -> Checker:
    """Literal values compare with their type: True is not 1, 1 is not True."""
    keys = {(type(a), a) for a in allowed}
    shown = [repr(a) for a in allowed]
    message = "Input should be " + (shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1])

    def check(value: Any, path: str) -> list[Problem]:
        try:
            return [] if (type(value), value) in keys else _problem(path, message)
        except TypeError:  # unhashable (a list or dict where a literal belongs)
            return _problem(path, message)
    return check


def _list_checker(item_type: Any) -> Checker:
    """JSON arrays only: a string is iterable in Python, but it is not a list of blocks."""
    resolve = _lazy(item_type)

    def check(value: Any, path: str) -> list[Problem]:
        if not isinstance(value, (list, tuple)):
            return _problem(path, "Input should be a valid list")
        item = resolve()
        problems: list[Problem] = []
        for i, v in enumerate(value):
            problems += item(v, _join(path, i))
        return problems
    return check


def _dict_checker(value_type: Any) -> Checker:
    resolve = _lazy(value_type)

    def check(value: Any, path: str) -> list[Problem]:
        if not isinstance(value, dict):
            return _problem(path, "Input should be a valid dictionary")
        if value_type in (Any, object):
            return []
        item = resolve()
        problems: list[Problem] = []
        for k, v in value.items():
            problems += item(v, _join(path, k))
        return problems
    return check


# ------------------------------------------------------------------ TypedDicts


@lru_cache(maxsize=None)
def fields(td: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """(hints by key, required keys) of a TypedDict, resolved once.

    `__required_keys__` alone is not enough: the SDK's modules use `from __future__ import
    annotations`, so on Python 3.11 `Required[...]` is a string when the class is built and
    every key lands in the optional set. The resolved hints still say Required."""
    hints = get_type_hints(td, include_extras=True)
    required = {k for k, h in hints.items() if get_origin(h) is Required}
    required |= {k for k in getattr(td, "__required_keys__", ()) if get_origin(hints.get(k)) is not NotRequired}
    return hints, frozenset(required)


def _typeddict_checker(td: Any) -> Checker:
    """Unknown keys are extra inputs (the API forbids them); missing Required keys are reported."""
    box: list[tuple[dict[str, Checker], frozenset[str]]] = []

    def table() -> tuple[dict[str, Checker], frozenset[str]]:
        if not box:
            hints, required = fields(td)
            box.append(({k: checker(h) for k, h in hints.items()}, required))
        return box[0]

    def check(value: Any, path: str) -> list[Problem]:
        if not isinstance(value, dict):
            return _problem(path, "Input should be a valid dictionary")
        checks, required = table()
        problems: list[Problem] = []
        for key, v in value.items():
            check_key = checks.get(key)
            if check_key is None:
                problems += _problem(_join(path, key), "Extra inputs are not permitted")
            else:
                problems += check_key(v, _join(path, key))
        for key in required:
            if key not in value:
                problems += _problem(_join(path, key), "Field required")
        return problems
    return check


# ------------------------------------------------------------------ unions


def _union_checker(members: tuple) -> Checker:
    """Discriminated by a Literal tag when the members have one (`type`, or `role` for messages);
    otherwise the first member that accepts wins, and a failure reports the closest member."""
    members = _json_members(members)
    if type(None) in members and len(members) == 2:
        inner = _lazy(next(m for m in members if m is not type(None)))
        return lambda value, path: [] if value is None else inner()(value, path)
    lazy = {id(m): _lazy(m) for m in members}  # by id: hashing a typing object walks its whole tree
    tag = _discriminator(members, lazy)
    every = tuple(lazy.values())

    def check(value: Any, path: str) -> list[Problem]:
        if tag is not None and isinstance(value, dict):
            candidates, problem = _tagged(tag, value, path)
            if problem:
                return problem
        else:
            candidates = every
        return _first_fit(candidates, value, path)
    return check


def _json_members(members: tuple) -> tuple:
    """Drop what cannot arrive as JSON (file objects, response models) when a JSON form exists."""
    flat: list[Any] = []
    for m in members:
        inner = get_args(m)[0] if get_origin(m) is typing.Annotated else m
        flat.extend(get_args(inner) if get_origin(inner) is Union else (inner,))
    wire = [m for m in flat if not _is_model(m) and m not in _NOT_JSON and get_origin(m) not in _NOT_JSON]
    return tuple(dict.fromkeys(wire or flat))


def _first_fit(candidates: tuple, value: Any, path: str) -> list[Problem]:
    best: list[Problem] | None = None
    for resolve in candidates:
        problems = resolve()(value, path)
        if not problems:
            return []
        if best is None or _distance(problems, path) < _distance(best, path):
            best = problems
    return best or _problem(path, "Input does not match any allowed type")


def _distance(problems: list[Problem], path: str) -> tuple[int, int]:
    """Closest member: fewest problems at this very level (a wrong kind of value), then fewest overall."""
    return sum(1 for where, _ in problems if where == path), len(problems)


class _Tag(typing.NamedTuple):
    key: str
    by_value: dict[Any, tuple]  # tag value -> checkers of the members that carry it
    untagged: tuple  # checkers of members where the key is optional: they take a value without it


def _discriminator(members: tuple, lazy: dict[int, Callable[[], Checker]]) -> _Tag | None:
    """The Literal key every TypedDict member declares ("type" first), or None.

    The tag maps to the members' (lazy) checkers."""
    dicts = [m for m in members if is_typeddict(m)]
    if len(dicts) < 2:
        return None
    keys = ["type", "role", *sorted({k for m in dicts for k in fields(m)[0]} - {"type", "role"})]
    for key in keys:
        literals = [_literal_values(fields(m)[0].get(key)) for m in dicts]
        if all(literals):
            by_value: dict[Any, tuple] = {}
            for m, values in zip(dicts, literals):
                for v in values:
                    by_value[v] = by_value.get(v, ()) + (lazy[id(m)],)
            untagged = tuple(lazy[id(m)] for m in dicts if key not in fields(m)[1])
            return _Tag(key, by_value, untagged)
    return None


def _literal_values(hint: Any) -> tuple:
    while get_origin(hint) in (Required, NotRequired, typing.Annotated):
        hint = get_args(hint)[0]
    if get_origin(hint) is Literal:
        return get_args(hint)
    if get_origin(hint) is Union:
        parts = [a for a in get_args(hint) if a is not type(None)]
        return get_args(parts[0]) if len(parts) == 1 and get_origin(parts[0]) is Literal else ()
    return ()


def _tagged(tag: _Tag, value: dict, path: str) -> tuple[tuple, list[Problem]]:
    """Members that carry this value's tag, or the API's complaint about the tag."""
    found = value.get(tag.key, _MISSING)
    if found is _MISSING or found is None:
        if tag.untagged:
            return tag.untagged, []
        return (), _problem(path, f"Unable to extract tag using discriminator '{tag.key}'")
    try:
        members = tag.by_value.get(found)
    except TypeError:
        members = None
    if members:
        return members, []
    expected = ", ".join(repr(v) for v in tag.by_value)
    return (), _problem(path, f"Input tag {found!r} found using '{tag.key}' does not match any of the "
                              f"expected tags: {expected}")
