"""Error types the CLI turns into one clear sentence on stderr (exit 2), never a traceback."""
from __future__ import annotations

import os


class CachecastError(Exception):
    """Bad input or a broken rule the user can fix; `exit_code` is what the CLI returns."""

    exit_code = 2


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


def redact(text: str) -> str:
    """Remove the API key from any text before it is shown, logged or stored. The stripped
    form too: a key read from a CRLF file carries a '\r' that error messages do not echo."""
    raw = os.environ.get("ANTHROPIC_API_KEY", "")
    for key in dict.fromkeys((raw, raw.strip())):
        if len(key) >= 8 and key in text:
            text = text.replace(key, "[redacted]")
    return text
