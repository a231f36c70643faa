"""Where a build keeps its files: shared by the builder, lint, token counting and submit.

Its own module so that what reads a build (lint, token counts, the probe, submit) needs
only these few names, not the request builder."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .._paths import regular_file
from ..errors import InputError
from ..facts.models import API_VERSIONS, DEFAULT_API_VERSION

MANIFEST = "manifest.jsonl"
SHARD_GLOB = "requests-*.jsonl"
BUILD_INFO = "build.json"


def build_info(path: Path) -> dict[str, Any]:
    """build.json of a build directory (or of the directory holding a request file); {} when
    absent or unreadable, because lint and count also take bare request files."""
    path = Path(path)
    info = (path if path.is_dir() else path.parent) / BUILD_INFO
    try:
        meta = json.loads(info.read_text()) if info.is_file() else {}
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def request_files(path: Path) -> list[Path]:
    """Request shards in a build directory, or the single file given."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob(SHARD_GLOB))
        if not files:
            raise InputError(f"{path}: no requests-*.jsonl files in this directory")
        return [regular_file(f, "request shard") for f in files]
    if not path.exists():
        raise InputError(f"{path}: file not found")
    return [regular_file(path, "requests (.jsonl)")]


def build_betas(build_dir: Path) -> tuple[str, ...]:
    """The anthropic-beta values a build's requests need (build.json "betas"), so that submit,
    probe and count all send the headers the build was made for; () for older builds."""
    betas = build_info(build_dir).get("betas") or []
    if not isinstance(betas, list) or not all(isinstance(b, str) and _BETA_RE.match(b) for b in betas):
        raise InputError(f"{Path(build_dir)}/{BUILD_INFO}: 'betas' is not a list of anthropic-beta names; "
                         "rebuild with cachecast build")
    return tuple(betas)


_BETA_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def build_api_version(build_dir: Path) -> str:
    """The anthropic-version a build was made for (build.json), so submit sends what lint checked."""
    version = build_info(build_dir).get("api_version")
    return version if version in API_VERSIONS else DEFAULT_API_VERSION
