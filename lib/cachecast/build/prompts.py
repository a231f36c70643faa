"""Render one (item, treatment) into a provider payload.

Anthropic gets structured blocks so the reusable system text can carry a breakpoint;
OpenAI (and any other provider) gets plain strings, exactly as before caching existed.
"""
from __future__ import annotations

import io
import json
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from .config import RunConfig, Treatment
from .._paths import describe_mode, open_regular
from ..errors import ConfigError, InputError
from ..jsonl import loads, strict_lines

EPHEMERAL = {"type": "ephemeral"}


@dataclass(frozen=True)
class Item:
    id: str
    fields: dict[str, Any]
    line: int


@dataclass(frozen=True)
class Template:
    text: str
    path: Path
    names: tuple[str, ...] = field(default=())

    def render(self, item: Item, items_path: Path) -> str:
        missing = [n for n in self.names if n not in item.fields]
        if missing:
            raise InputError(
                f"{items_path}:{item.line}: item '{item.id}' has no field '{missing[0]}' "
                f"used by the template {self.path.name}"
            )
        values = {n: item.fields[n] for n in self.names}
        for name, value in values.items():
            if value is None or isinstance(value, (dict, list)):
                raise InputError(self._unrenderable(item, items_path, name, value))
        return self.text.format_map(values)

    def _unrenderable(self, item: Item, items_path: Path, name: str, value: Any) -> str:
        """null, an object or a list would reach the prompt as Python's `None`, `{'a': 1}` or
        `['x']`: text the model was never meant to see, in every request of the item."""
        kind = "null" if value is None else "object" if isinstance(value, dict) else "list"
        what, written = _UNRENDERABLE[kind]
        return (f"{items_path}:{item.line}: item '{item.id}' field '{name}' is {what}; the template "
                f"{self.path.name} would write it into the prompt as {written} (give text or a number)")


_UNRENDERABLE = {"null": ("null", "None"), "object": ("an object", "a Python dict literal"),
                 "list": ("a list", "a Python list literal")}


def read_text(path: Path) -> str:
    """A prompt file's text. Cached by (path, mtime, size), not path alone: a notebook kernel
    lives for hours, and a prompt edited between two runs must not be served stale. Only a
    regular file: a FIFO would hang the build and /dev/zero would fill memory."""
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    kind = describe_mode(st.st_mode)
    if kind:
        raise InputError(f"{path}: is {kind}, not a regular file; a prompt must be a text file")
    return _read_text(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _read_text(path: Path, mtime_ns: int, size: int) -> str:
    try:
        with io.TextIOWrapper(open_regular(path, "prompt text"), encoding="utf-8-sig") as fh:
            text = fh.read()  # text mode, as read_text was: CRLF and CR become LF
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not text.strip():
        # the API rejects empty text blocks, so an empty prompt would fail every request of the batch
        raise ConfigError(f"{path}: is empty; a prompt file needs some text")
    return text


def load_template(path: Path) -> Template:
    return _parse_template(path, read_text(path))


@lru_cache(maxsize=16)
def _parse_template(path: Path, text: str) -> Template:
    """Only plain {field} placeholders: a format spec or conversion ({id:>9999999999}, {x!z})
    would fail (or exhaust memory) at render time, thousands of items in."""
    try:
        fields = [(n, spec, conv) for _, n, spec, conv in string.Formatter().parse(text) if n is not None]
    except ValueError as exc:
        raise ConfigError(f"{path}: bad template ({exc}); write literal braces as {{{{ and }}}}") from None
    for name, spec, conv in fields:
        if not name.isidentifier():
            raise ConfigError(f"{path}: template field '{{{name}}}' is not a plain item field name")
        if spec or conv:
            shown = name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "")
            raise ConfigError(f"{path}: template field '{{{shown}}}' has a format spec or conversion; "
                              f"only plain {{{name}}} is supported")
    names = tuple(dict.fromkeys(n for n, _, _ in fields))
    return Template(text=text, path=path, names=names)


def iter_items(cfg: RunConfig) -> Iterator[Item]:
    """Items in file order; stops at items.limit. Errors name the file and line."""
    path = cfg.resolve(cfg.items.file)
    seen: set[str] = set()
    count = 0
    for lineno, line in strict_lines(path, strip_bom=True):
        item = _parse_item(line, lineno, path, cfg.items.id_field)
        if item.id in seen:
            raise InputError(f"{path}:{lineno}: duplicate item id '{item.id}'")
        seen.add(item.id)
        yield item
        count += 1
        if cfg.items.limit and count >= cfg.items.limit:
            return
    if count == 0:
        raise InputError(f"{path}: no items (the file is empty)")


def _parse_item(line: str, lineno: int, path: Path, id_field: str) -> Item:
    obj = loads(line, f"{path}:{lineno}")
    if not isinstance(obj, dict):
        raise InputError(f"{path}:{lineno}: expected a JSON object per line, got {type(obj).__name__}")
    if id_field not in obj or obj[id_field] in (None, ""):
        raise InputError(f"{path}:{lineno}: item has no '{id_field}' field (set items.id_field to its id key)")
    if isinstance(obj[id_field], bool) or not isinstance(obj[id_field], (str, int, float)):
        raise InputError(f"{path}:{lineno}: item field '{id_field}' (the id) must be a string or a number, "
                         f"got {type(obj[id_field]).__name__}")
    return Item(id=str(obj[id_field]), fields=obj, line=lineno)


def render_payload(cfg: RunConfig, item: Item, treatment: Treatment) -> dict[str, Any]:
    """Provider-neutral chat payload: {"messages": [...], "tools"?: [...]}."""
    return renderer(cfg, treatment).render(item)


@dataclass(frozen=True)
class Renderer:
    """What rendering needs for one (config, treatment), read from disk once.

    A build renders items x treatments payloads; reading (and stat-ing) the prompt files
    for each was a third of build time at 100,000 requests. One Renderer per treatment per
    build also means the whole build sees one version of each prompt file."""

    cfg: RunConfig
    system: str
    suffix: str | None
    context: str | None
    template: Template
    items_path: Path
    tools: tuple[dict[str, Any], ...]

    def render(self, item: Item) -> dict[str, Any]:
        user = self.template.render(item, self.items_path)
        if self.cfg.provider.name != "anthropic":
            return _string_payload(self.system, self.suffix, self.context, user)
        return _block_payload(self.cfg, self.system, self.suffix, self.context, user,
                              [dict(t) for t in self.tools])


def renderer(cfg: RunConfig, treatment: Treatment) -> Renderer:
    system, suffix = _system_texts(cfg, treatment)
    ctx = cfg.provider.cache.context
    tools = load_tools(cfg) if cfg.provider.name == "anthropic" else []
    return Renderer(cfg=cfg, system=system, suffix=suffix,
                    context=read_text(cfg.resolve(ctx.file)) if ctx else None,
                    template=load_template(cfg.resolve(cfg.prompts.user_template_file)),
                    items_path=cfg.resolve(cfg.items.file), tools=tuple(tools))


def _system_texts(cfg: RunConfig, treatment: Treatment) -> tuple[str, str | None]:
    system_path = treatment.system_file or cfg.prompts.system_file
    system = read_text(cfg.resolve(system_path))
    suffix = read_text(cfg.resolve(treatment.system_suffix_file)) if treatment.system_suffix_file else None
    return system, suffix


def _string_payload(system: str, suffix: str | None, context: str | None, user: str) -> dict[str, Any]:
    sys_text = system if suffix is None else f"{system}\n\n{suffix}"
    user_text = user if context is None else f"{context}\n\n{user}"
    return {"messages": [{"role": "system", "content": sys_text}, {"role": "user", "content": user_text}]}


def _block_payload(cfg: RunConfig, system: str, suffix: str | None, context: str | None, user: str,
                   tools: list[dict[str, Any]]) -> dict[str, Any]:
    caching = cfg.provider.caching_enabled
    sys_block: dict[str, Any] = {"type": "text", "text": system}
    if caching:
        sys_block["cache_control"] = dict(EPHEMERAL)
    system_blocks = [sys_block]
    if suffix is not None:
        system_blocks.append({"type": "text", "text": suffix})
    user_blocks: list[dict[str, Any]] = []
    if context is not None:
        ctx_block: dict[str, Any] = {"type": "text", "text": context}
        if caching:
            ctx_block["cache_control"] = dict(EPHEMERAL)
        user_blocks.append(ctx_block)
    user_blocks.append({"type": "text", "text": user})
    payload: dict[str, Any] = {
        "messages": [{"role": "system", "content": system_blocks}, {"role": "user", "content": user_blocks}]
    }
    if tools:
        if caching and cfg.provider.cache.tools:
            tools = [*tools[:-1], {**tools[-1], "cache_control": dict(EPHEMERAL)}]
        payload["tools"] = tools
    return payload


def load_tools(cfg: RunConfig) -> list[dict[str, Any]]:
    if cfg.prompts.tools_file is None:
        return []
    path = cfg.resolve(cfg.prompts.tools_file)
    try:
        tools = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: tools file is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(tools, list) or not all(isinstance(t, dict) and "name" in t for t in tools):
        raise ConfigError(f"{path}: tools file must be a JSON list of tool definitions, each with a 'name'")
    return tools
