"""Write Message Batches request shards, the manifest that joins results back, and a preview.

The output directory appears only when complete (written to a temp dir, then renamed), so
a failed build never leaves something that looks like a finished build.
"""
from __future__ import annotations

import hashlib
import json
import os
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from itertools import islice
from json.encoder import encode_basestring as _escape  # the C escaper json.dumps(ensure_ascii=False) uses
from pathlib import Path
from typing import IO, Any, Iterator

from tqdm import tqdm

from .._atomic import atomic_dir
from .config import RunConfig
from ..errors import InputError
from ..jsonl import loads, strict_lines
from ..facts.models import source as model_source
from .prompts import iter_items, renderer
from .requests import BuiltRequest, build_requests, config_betas

@dataclass(frozen=True)
class ShardLimits:
    """A provider's batch envelope: requests and bytes per batch, and where we cut shards."""

    requests: int
    bytes: int  # the hard limit (the API answers 413 above it)
    shard_bytes: int  # where the builder cuts, with margin for the create call's JSON envelope


# Anthropic: 100,000 requests or 256 MB ("stay under 256,000,000 bytes", FACTS.md);
# OpenAI Batch: 50,000 requests and 200 MB per input file.
LIMITS = {"anthropic": ShardLimits(100_000, 256_000_000, 250_000_000),
          "openai": ShardLimits(50_000, 200_000_000, 195_000_000)}
MAX_REQUESTS = LIMITS["anthropic"].requests
MAX_BYTES = LIMITS["anthropic"].bytes
CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Shard:
    file: str
    requests: int = 0
    bytes: int = 0


@dataclass
class BuildResult:
    out: Path
    requests: int
    shards: list[Shard] = field(default_factory=list)
    skipped_cache: int = 0  # requests whose breakpoint was dropped (prefix below minimum)


def custom_id(item_id: str, treatment: str, temperature: float | None, sample: int) -> str:
    """item__treatment__s<sample> (with __t<temperature> before the sample only on the 2023-06-01
    axis): readable, and reversible through the manifest; unsafe or long item ids get a hash."""
    rest = f"__{treatment}{_temp_label(temperature)}__s{sample}"
    return _safe_item_id(item_id, 64 - len(rest)) + rest


def _temp_label(temperature: float | None) -> str:
    return "" if temperature is None else "__t" + f"{temperature:g}".replace(".", "p").replace("-", "m")


@lru_cache(maxsize=4096)  # an item id recurs for each treatment x temperature x repeat, in a row
def _safe_item_id(item_id: str, budget: int) -> str:
    safe = _UNSAFE.sub("_", item_id)
    if safe != item_id or len(safe) > budget:
        digest = hashlib.sha256(item_id.encode()).hexdigest()[:8]
        safe = f"{safe[: budget - 9]}_{digest}"
    return safe


def iter_requests(cfg: RunConfig, limit: int | None = None) -> Iterator[tuple[dict, dict]]:
    """(batch request line, manifest row) for every item x treatment x sample (x temperature
    on the 2023-06-01 axis). The model rules were checked when the config loaded."""
    # islice stops without pulling one more: with --limit, items past the limit are never read
    yield from islice(_all_requests(cfg), limit)


def _all_requests(cfg: RunConfig) -> Iterator[tuple[dict, dict]]:
    anthropic = cfg.provider.name == "anthropic"
    renderers = [(treatment, renderer(cfg, treatment)) for treatment in cfg.treatments]
    for item in iter_items(cfg):
        for treatment, render in renderers:
            payload = render.render(item)
            # the prefix work does not depend on the temperature: done once per (item, treatment)
            built = build_requests(cfg, payload, cfg.temperatures) if anthropic else [None] * len(cfg.temperatures)
            for temperature, req in zip(cfg.temperatures, built):
                # every sample shares the request (and so the cached prefix) byte for byte
                for sample in range(1, cfg.repeats + 1):
                    cid = custom_id(item.id, treatment.name, temperature, sample)
                    yield _lines(cfg, payload, req, cid, item.id, treatment.name, temperature, sample)


def _lines(cfg: RunConfig, payload: dict, built: BuiltRequest | None, cid: str, item_id: str, treatment: str,
           temperature: float | None, repeat: int) -> tuple[dict, dict]:
    model = cfg.provider.model
    # `repeat` is the sample index (1..repeats): the store's column name since the first version
    row: dict[str, Any] = {"custom_id": cid, "item_id": item_id, "treatment": treatment,
                           "temperature": temperature, "repeat": repeat, "model": model}
    if built is not None:
        row.update(ttl=built.ttl, prefix_hash=built.prefix_hash, cacheable=built.cacheable,
                   skip_reason=built.skip_reason, est_prefix_tokens=built.prefix_tokens,
                   est_rest_tokens=built.rest_tokens, breakpoints=built.breakpoints)
        return {"custom_id": cid, "params": built.params}, row
    body: dict[str, Any] = {"model": model, "messages": payload["messages"], "max_tokens": cfg.max_tokens}
    if temperature is not None:
        body["temperature"] = temperature
    row.update(ttl=None, prefix_hash=None, cacheable=False, skip_reason="provider is not anthropic",
               est_prefix_tokens=0, est_rest_tokens=None, breakpoints=0)
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}, row


def build(cfg: RunConfig, out: Path, limit: int | None = None, shard_size: int | None = None,
          progress: bool = True) -> BuildResult:
    limits = LIMITS[cfg.provider.name]
    with atomic_dir(out, "build.json", "cachecast build") as tmp:
        result = _write(cfg, tmp, limit, min(shard_size or limits.requests, limits.requests), progress)
        _write_build_json(cfg, tmp, result)
    result.out = out
    return result


def _write(cfg: RunConfig, tmp: Path, limit: int | None, shard_size: int, progress: bool) -> BuildResult:
    result = BuildResult(out=tmp, requests=0)
    shard_bytes = LIMITS[cfg.provider.name].shard_bytes
    seen: set[str] = set()
    shard: Shard | None = None
    fh: IO[bytes] | None = None
    previews: list[dict] = []
    memo: dict[str, str] = {}
    total = _expected_count(cfg, limit)
    with open(tmp / "manifest.jsonl", "w") as manifest, tqdm(
        total=total, unit="req", desc="build", disable=not progress or total < 2000, leave=False
    ) as bar:
        for line, row in iter_requests(cfg, limit):
            if row["custom_id"] in seen:
                raise InputError(f"custom_id '{row['custom_id']}' is produced twice; item ids collide after cleaning")
            seen.add(row["custom_id"])
            # encoded once: the bytes give the shard size and are what gets written
            data = (request_json(line, memo) + "\n").encode()
            size = len(data)
            if shard is None or shard.requests >= shard_size or shard.bytes + size > shard_bytes:
                if fh:
                    fh.close()
                shard = Shard(file=f"requests-{len(result.shards) + 1:04d}.jsonl")
                result.shards.append(shard)
                fh = open(tmp / shard.file, "wb")
            fh.write(data)
            shard.requests += 1
            shard.bytes += size
            row["shard"] = shard.file
            manifest.write(json.dumps(row) + "\n")
            result.requests += 1
            result.skipped_cache += row["skip_reason"] is not None and cfg.provider.name == "anthropic"
            if len(previews) < 3 or (len(previews) < 6 and row["treatment"] not in {p[1]["treatment"] for p in previews}):
                previews.append((line, row))
            bar.update()
    if fh:
        fh.close()
    from .preview import write_preview  # local: preview formatting is only needed here

    write_preview(tmp / "preview.md", previews, cfg)
    return result


_LONG = 256  # strings at least this long are escaped once per build and reused


def request_json(obj: Any, memo: dict[str, str]) -> str:
    """Exactly json.dumps(obj, ensure_ascii=False), but each distinct long string (the shared
    system prompt, a few KB in every request) is escaped once, not once per request.

    Escaping that one prompt was ~90% of json.dumps time per request line; with it
    memoised the build writes 100,000 requests in about a third of the time (see
    docs/benchmarks.md). Anything unusual (non-str keys, subclasses, bools, None, NaN)
    goes through json.dumps itself, so the output is byte-identical in every case
    (tests/test_request_json.py checks it against json.dumps on generated values)."""
    try:
        return _encode(obj, memo)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False)  # raises its usual error for what it cannot encode


def _encode(obj: Any, memo: dict[str, str]) -> str:
    kind = type(obj)
    if kind is str:
        if len(obj) < _LONG:
            return _escape(obj)
        hit = memo.get(obj)
        if hit is None:
            if len(memo) >= 512:  # long item texts must not pile up over a large build
                memo.clear()
            hit = memo[obj] = _escape(obj)
        return hit
    if kind is dict:
        return "{" + ", ".join([_key(k) + ": " + _encode(v, memo) for k, v in obj.items()]) + "}"
    if kind is list:
        return "[" + ", ".join([_encode(v, memo) for v in obj]) + "]"
    if kind is int:
        return int.__repr__(obj)
    if kind is float and math.isfinite(obj):
        return float.__repr__(obj)
    return json.dumps(obj, ensure_ascii=False)


def _key(key: Any) -> str:
    if type(key) is not str:
        raise TypeError("non-string key")  # json.dumps has its own rules for these: let it decide
    return _escape(key)


def _expected_count(cfg: RunConfig, limit: int | None) -> int:
    """Only for the progress bar: counting lines is cheap next to rendering them."""
    with open(cfg.resolve(cfg.items.file), "rb") as fh:
        items = sum(1 for line in fh if line.strip())
    if cfg.items.limit:
        items = min(items, cfg.items.limit)
    total = items * len(cfg.treatments) * len(cfg.temperatures) * cfg.repeats
    return min(total, limit) if limit is not None else total


def _write_build_json(cfg: RunConfig, tmp: Path, result: BuildResult) -> None:
    info = {
        # relative to the build directory, so submit finds it from any working directory
        "config": os.path.relpath(Path(cfg.source).resolve(), tmp.resolve()) if cfg.source else None,
        "run_name": cfg.run_name,
        "provider": cfg.provider.name,
        "model": cfg.provider.model,
        "api_version": cfg.provider.api_version if cfg.provider.name == "anthropic" else None,
        "betas": config_betas(cfg),  # anthropic-beta values submit, probe and count send (requests.config_betas)
        "config_fingerprint": config_fingerprint(cfg),
        "budget_usd": cfg.budget_usd,  # the run's budget as built: the ledger judges the run against it
        "model_facts": model_source() if cfg.provider.name == "anthropic" else None,
        "format": "anthropic-message-batches" if cfg.provider.name == "anthropic" else "openai-batch",
        "requests": result.requests,
        "skipped_cache": result.skipped_cache,
        "shards": [vars(s) for s in result.shards],
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (tmp / "build.json").write_text(json.dumps(info, indent=2) + "\n")


def config_fingerprint(cfg: RunConfig) -> str | None:
    """16 hex of sha256 over the config file's bytes: with run_name it says which builds are one run."""
    if not cfg.source:
        return None
    return hashlib.sha256(Path(cfg.source).read_bytes()).hexdigest()[:16]


def read_manifest(path: Path) -> list[dict]:
    """Manifest rows from a build directory or a manifest.jsonl path."""
    path = path / "manifest.jsonl" if path.is_dir() else path
    if not path.exists():
        raise InputError(f"{path}: no manifest.jsonl (run cachecast build first)")
    rows = []
    for lineno, text in strict_lines(path):
        row = loads(text, f"{path}:{lineno}")
        if not isinstance(row, dict) or not isinstance(row.get("custom_id"), str):
            raise InputError(f"{path}:{lineno}: not a manifest row (an object with a custom_id); "
                             "rebuild with cachecast build")
        rows.append(row)
    return rows
