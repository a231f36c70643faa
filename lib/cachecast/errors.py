"""Error types the CLI turns into one clear sentence on stderr (exit 2), never a traceback."""
from __future__ import annotations

import os


class CachecastError(Exception):
    """Bad input or a broken rule the user can fix; `exit_code` is what the CLI returns."""

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        """What IPython (JupyterLab, papermill) shows instead of a traceback: the one
        sentence, as the CLI prints it (a notebook's reader gets no traceback either)."""
        return [f"{type(self).__name__}: {redact(str(self))}"]


class ConfigError(CachecastError):
    """The run configuration (or a file it points to) is wrong."""


class InputError(CachecastError):
    """A data file (items, requests, results) cannot be used."""


class CacheRuleError(CachecastError):
    """A request would break one of Anthropic's prompt-caching rules (4 breakpoints, TTL order)."""


class PriceError(CachecastError):
    """No known price for a model: we refuse to guess, because $0 would hide real spend."""


class ApiError(CachecastError):
    """The Anthropic API (or a server speaking it) refused or failed."""


REDACTED = "[redacted]"
MIN_SECRET = 8  # shorter "keys" (a test's "x") would redact ordinary words


def secret_values() -> tuple[str, ...]:
    """The forms of ANTHROPIC_API_KEY and ANTHROPIC_ADMIN_KEY (the Admin API key `reconcile`
    reads) to remove: as set, and stripped (a key read from a CRLF file carries a '\r' that
    servers and messages do not echo). Empty when no key is set."""
    raws = (os.environ.get("ANTHROPIC_API_KEY", ""), os.environ.get("ANTHROPIC_ADMIN_KEY", ""))
    return tuple(k for k in dict.fromkeys(v for raw in raws for v in (raw, raw.strip())) if len(k) >= MIN_SECRET)


def redact(text: str) -> str:
    """Remove the API key from any text before it is shown, logged or stored."""
    for key in secret_values():
        if key in text:
            text = text.replace(key, REDACTED)
    return text


def redact_bytes(data: bytes) -> bytes:
    """`redact` for bytes (a result line as read from a file). Line by line is enough: the
    key has no newline, so it never spans two lines."""
    for key in secret_values():
        raw = key.encode()
        if raw in data:
            data = data.replace(raw, REDACTED.encode())
    return data
