"""A human-readable preview of a build: a few requests, long texts elided, breakpoints marked.

preview.md is Markdown, and Markdown passes raw HTML through: a prompt or item holding
`<script>` or `<img onerror=...>` could run in a viewer that renders raw HTML (some IDE
previews and review pages do). Every text taken from the data is HTML-escaped (`_text`)."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .config import RunConfig

ELIDE = 160


def _text(value: Any) -> str:
    """Data as inert Markdown text: &, < and > escaped, so no tag survives."""
    return html.escape(str(value), quote=False)


def _elide(text: str) -> str:
    text = text.replace("\n", " ")
    if len(text) <= ELIDE:
        return _text(text)
    return f"{_text(text[:70])} [... {len(text) - 140} chars ...] {_text(text[-70:])}"


def _block_lines(where: str, block: Any) -> list[str]:
    if isinstance(block, str):
        return [f"- {where}: {_elide(block)}"]
    text = block.get("text") or block.get("name") or block.get("type")
    mark = ""
    cc = block.get("cache_control")
    if cc:
        mark = f"  <== BREAKPOINT ({cc.get('ttl', '5m')}): everything above is the cached prefix"
    return [f"- {where}: {_elide(str(text))}{mark}"]


def describe(line: dict) -> list[str]:
    params = line.get("params") or line.get("body") or {}
    out: list[str] = []
    for tool in params.get("tools", []):
        out += _block_lines("tool", tool)
    system = params.get("system", [])
    for block in [system] if isinstance(system, str) else system:
        out += _block_lines("system", block)
    for msg in params.get("messages", []):
        content = msg["content"]
        for block in [content] if isinstance(content, str) else content:
            out += _block_lines(msg["role"], block)
    return out


def write_preview(path: Path, samples: list[tuple[dict, dict]], cfg: RunConfig) -> None:
    lines = [f"# Build preview: {_text(cfg.run_name)} ({cfg.provider.name} {_text(cfg.provider.model)})", ""]
    for line, row in samples:
        lines.append(f"## {_text(row['custom_id'])}")
        lines.append(f"item {_text(row['item_id'])}, treatment {_text(row['treatment'])}, "
                     f"temperature {row['temperature']}, "
                     f"repeat {row['repeat']}; cached prefix ~{row['est_prefix_tokens']} tokens, "
                     f"ttl {row['ttl'] or '-'}, prefix hash {row['prefix_hash'] or '-'}")
        if row.get("skip_reason") and cfg.provider.name == "anthropic":
            lines.append(f"NOTE: {_text(row['skip_reason'])}")
        lines.append("")
        lines += describe(line)
        lines.append("")
    path.write_text("\n".join(lines))
