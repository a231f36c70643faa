"""Submit, watch and download Message Batches with the official `anthropic` SDK.

Why the pieces look the way they do:
- One batch per request shard, recorded in `batches.json` next to the manifest as soon as
  it is created, so re-running `submit` never pays for the same shard twice.
- Retries are the SDK's own (`max_retries`, honouring retry-after); we only turn what is
  left into one sentence (ApiError, exit 2). The key comes from ANTHROPIC_API_KEY only and
  every message passes through `redact`.
- Results are streamed to `FILE.part` line by line (never the whole file in memory) and
  renamed when complete. An interrupted download resumes: lines already in the .part file
  are kept (a torn last line is dropped) and as many lines of each custom_id as it holds
  are skipped when the stream is read again; results files of an ended batch do not change,
  so this is exact. Every line is kept, a repeated custom_id too (both lines were billed;
  ingest stores both and reports the conflict).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import ApiError, InputError, redact
from ..facts.models import API_VERSIONS, DEFAULT_API_VERSION

RECORD_FILE = "batches.json"
DEFAULT_MAX_RETRIES = 4
DEFAULT_POLL_SECONDS = 30.0
# A silent server once held submit for ~50 minutes (600 s x 5 attempts): each wait is bounded.
DEFAULT_TIMEOUT = 120.0  # seconds to wait for each read/write of a request (the SDK's default is 600)
DEFAULT_CONNECT_TIMEOUT = 10.0
# a batch id becomes a file name (DIR/results/<id>.jsonl): only what the API's own ids look like
BATCH_ID_RE = re.compile(r"^msgbatch_[A-Za-z0-9_-]{1,200}$")


# -- client and errors ----------------------------------------------------------------------------
def api_key() -> str:
    key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
    if not key:
        raise ApiError("ANTHROPIC_API_KEY is not set; export your Anthropic API key in that environment "
                       "variable (cachecast reads it from nowhere else and never writes it down)")
    return key


def admin_key() -> str:
    """The Admin API key (the organization's cost and usage reports need one): from
    ANTHROPIC_ADMIN_KEY only, never ANTHROPIC_API_KEY, and never written anywhere."""
    key = os.environ.get("ANTHROPIC_ADMIN_KEY", "").strip()
    if not key:
        raise ApiError("ANTHROPIC_ADMIN_KEY is not set; reconcile reads Anthropic's cost report, which needs an "
                       "Admin API key (sk-ant-admin..., made by an organization admin in the Claude Console): "
                       "export it in that environment variable (cachecast never reads ANTHROPIC_API_KEY for this "
                       "and never writes the key down)")
    return key


def make_admin_client(base_url: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                      timeout: float = DEFAULT_TIMEOUT, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT):
    """make_client with the Admin API key (cachecast reconcile), so the same timeouts apply."""
    return make_client(base_url, max_retries, timeout=timeout, connect_timeout=connect_timeout, key=admin_key())


def make_client(base_url: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                timeout: float = DEFAULT_TIMEOUT, api_version: str = DEFAULT_API_VERSION,
                connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, betas: tuple[str, ...] = (), *,
                key: str | None = None):
    """The one place cachecast makes an SDK client (count, submit, status, fetch, models, reconcile),
    so every call sends the config's anthropic-version and the build's anthropic-beta values
    (build.json "betas"); base_url (or ANTHROPIC_BASE_URL) points it at another server, e.g. the
    local test server. `key`: another key than ANTHROPIC_API_KEY (the Admin API key of
    make_admin_client)."""
    import anthropic

    if api_version not in API_VERSIONS:
        raise InputError(f"anthropic-version {api_version!r} is not one cachecast knows ({', '.join(API_VERSIONS)})")
    return anthropic.Anthropic(api_key=key or api_key(), base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
                               max_retries=max_retries,
                               timeout=anthropic.Timeout(timeout, connect=min(connect_timeout, timeout)),
                               default_headers={"anthropic-version": api_version,
                                                **({"anthropic-beta": ",".join(betas)} if betas else {})})


def check_batch_id(batch_id: Any, where: str = "the API") -> str:
    """An id that will name a file must look like the API's own ids; anything else stops here."""
    if not isinstance(batch_id, str) or not BATCH_ID_RE.match(batch_id):
        shown = json.dumps(batch_id)[:80] if not isinstance(batch_id, str) else repr(batch_id[:80])
        raise ApiError(f"{where} returned the batch id {shown}, which is not a Message Batches id "
                       "(msgbatch_ followed by letters, digits, '_' or '-'); nothing was written for it")
    return batch_id


@contextlib.contextmanager
def api_errors(action: str) -> Iterator[None]:
    """Turn what the SDK raises (after its retries) into one clear, redacted sentence."""
    import anthropic

    try:
        yield
    except anthropic.AuthenticationError:
        raise ApiError(f"{action}: the API refused the key in ANTHROPIC_API_KEY (401); check that it is "
                       "valid and belongs to this workspace") from None
    except anthropic.PermissionDeniedError as exc:
        raise ApiError(f"{action}: permission denied (403): {_message(exc)}") from None
    except anthropic.RateLimitError:
        raise ApiError(f"{action}: still rate limited (429) after the SDK's retries; wait a minute and "
                       "run the same command again") from None
    except anthropic.NotFoundError as exc:
        raise ApiError(f"{action}: not found (404): {_message(exc)}") from None
    except anthropic.BadRequestError as exc:
        raise ApiError(f"{action}: the API rejected the request (400): {_message(exc)}") from None

    except anthropic.APIStatusError as exc:
        if exc.status_code == 413:
            raise ApiError(f"{action}: the request is too large for the API (413 request_too_large); a batch "
                           "takes at most 256,000,000 bytes and 100,000 requests: rebuild with a smaller "
                           "--shard-size") from None
        raise ApiError(f"{action}: the API failed with HTTP {exc.status_code} after the SDK's retries "
                       f"({_message(exc)}); try again later") from None
    except anthropic.APITimeoutError:
        raise ApiError(f"{action}: the API did not answer in time (after the SDK's retries; --timeout and "
                       "--connect-timeout set the waits); check the network and run it again") from None
    except anthropic.APIConnectionError as exc:
        raise ApiError(f"{action}: could not reach the API ({redact(str(exc.__cause__ or exc))}); "
                       "check the network or --base-url") from None


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return redact(str(err["message"]))
    return redact(str(getattr(exc, "message", exc)))


# -- the record of submitted batches -------------------------------------------------------------
@dataclass
class BatchRecord:
    shard: str
    batch_id: str
    requests: int
    sha256: str
    submitted_at: str
    processing_status: str = "in_progress"
    results: str | None = None  # results file, relative to the build dir, once downloaded
    created_at: str | None = None  # the API's, so results are priced at the batch's own date
    api_version: str | None = None  # the anthropic-version the batch was created with


@dataclass
class Submission:
    build_dir: Path
    records: list[BatchRecord] = field(default_factory=list)
    new: list[str] = field(default_factory=list)  # batch ids created by this run


def read_records(build_dir: Path) -> list[BatchRecord]:
    path = build_dir / RECORD_FILE
    if not path.exists():
        return []
    try:
        return [BatchRecord(**row) for row in json.loads(path.read_text())["batches"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a cachecast batch record ({exc}); fix or move it before submitting") from None


def write_records(build_dir: Path, records: list[BatchRecord]) -> None:
    """Atomic replace: a crash leaves the old or the new record, never half of one."""
    path = build_dir / RECORD_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"batches": [asdict(r) for r in records]}, indent=2) + "\n")
    tmp.replace(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_requests(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        try:
            return [json.loads(line) for line in fh if line.strip()]
        except ValueError as exc:
            raise InputError(f"{path}: a line is not JSON ({exc}); rebuild the requests") from None


# -- submit ---------------------------------------------------------------------------------------
def submit(client, build_dir: Path, log: Callable[[str], None] = print) -> Submission:
    """Create one batch per shard not yet recorded; record each batch id as soon as it exists."""
    from ..build.build_files import request_files

    build_dir = Path(build_dir)
    if not (build_dir / "manifest.jsonl").exists():
        raise InputError(f"{build_dir}: no manifest.jsonl; submit takes a directory made by cachecast build")
    records = read_records(build_dir)
    done = {r.shard: r for r in records}
    result = Submission(build_dir, records)
    for shard in request_files(build_dir):
        sha = _sha256(shard)
        if shard.name in done:
            if done[shard.name].sha256 != sha:
                raise InputError(f"{shard}: changed since it was submitted as batch {done[shard.name].batch_id}; "
                                 "build into a new directory instead of editing a submitted one")
            log(f"{shard.name}: already submitted as {done[shard.name].batch_id}; skipped")
            continue
        requests = _read_requests(shard)
        with api_errors(f"submitting {shard.name}"):
            batch = client.messages.batches.create(requests=requests)
        batch_id = check_batch_id(getattr(batch, "id", None), f"submitting {shard.name}: the API")
        record = BatchRecord(shard=shard.name, batch_id=batch_id, requests=len(requests), sha256=sha,
                             submitted_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             processing_status=str(getattr(batch, "processing_status", "in_progress")),
                             created_at=_iso(getattr(batch, "created_at", None)),
                             api_version=_client_version(client))
        records.append(record)
        write_records(build_dir, records)
        result.new.append(batch_id)
        log(f"{shard.name}: submitted {len(requests)} requests as {batch_id}")
    return result


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def _client_version(client: Any) -> str | None:
    headers = getattr(client, "default_headers", None) or {}
    return headers.get("anthropic-version") if isinstance(headers, dict) else None


# -- poll -----------------------------------------------------------------------------------------
def wait(client, batch_ids: list[str], *, poll_seconds: float = DEFAULT_POLL_SECONDS, progress: bool | None = None,
         sleep: Callable[[float], None] = time.sleep, deadline: float | None = None) -> dict[str, Any]:
    """Poll `retrieve` until every batch has ended (or `deadline` seconds have passed: the
    batches keep running, nothing is lost); a tqdm bar shows the request counts."""
    started = time.monotonic()
    from tqdm import tqdm

    state: dict[str, Any] = {}
    bar = None
    try:
        while True:
            with api_errors("checking batch status"):
                for bid in batch_ids:
                    if bid not in state or state[bid].processing_status != "ended":
                        state[bid] = client.messages.batches.retrieve(bid)
            counts = _sum_counts(state.values())
            total = sum(counts.values())
            if bar is None:
                show = sys.stderr.isatty() if progress is None else progress
                bar = tqdm(total=total, unit="req", desc="batches", disable=not show, file=sys.stderr)
            bar.n = total - counts["processing"]
            bar.set_postfix(counts, refresh=True)
            if all(b.processing_status == "ended" for b in state.values()):
                return state
            if deadline is not None and time.monotonic() - started >= deadline:
                raise ApiError(f"batches still processing after {deadline:g} s (--deadline): {counts['processing']:,} "
                               "request(s) left; they keep running, so run the same command again later")
            sleep(poll_seconds)
    finally:
        if bar is not None:
            bar.close()


def _sum_counts(batches) -> dict[str, int]:
    keys = ("processing", "succeeded", "errored", "canceled", "expired")
    return {k: sum(getattr(b.request_counts, k) for b in batches) for k in keys}


# -- download -------------------------------------------------------------------------------------
@dataclass
class ResultSummary:
    batch_id: str
    lines: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0
    input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int = 0
    resumed_lines: int = 0
    created_at: str | None = None
    ended_at: str | None = None  # the API's; reconcile --batch-day ended dates the batch's lines by it
    errors: dict[str, int] = field(default_factory=dict)  # "type: message" -> lines, for errored lines

    @property
    def token_hit_rate(self) -> float:
        prompt = self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
        return self.cache_read_input_tokens / prompt if prompt else 0.0

    def add(self, line: dict) -> None:
        self.lines += 1
        result = line.get("result") or {}
        kind = result.get("type")
        if kind in ("succeeded", "errored", "canceled", "expired"):
            setattr(self, kind, getattr(self, kind) + 1)
        if kind == "errored":
            self._count_error(result)
        if kind == "succeeded":
            usage = (result.get("message") or {}).get("usage") or {}
            for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"):
                setattr(self, name, getattr(self, name) + int(usage.get(name) or 0))

    def _count_error(self, result: dict) -> None:
        """Errored lines grouped by the API's error type and message (30,000 identical ones are one row)."""
        outer = result.get("error") if isinstance(result.get("error"), dict) else {}
        inner = outer.get("error") if isinstance(outer.get("error"), dict) else outer
        key = f"{inner.get('type', 'unknown')}: {redact(str(inner.get('message', '')))[:300]}"
        self.errors[key] = self.errors.get(key, 0) + 1

    def error_summary(self) -> str:
        """What went wrong, most common first: one line per error type and message."""
        rows = sorted(self.errors.items(), key=lambda kv: -kv[1])
        return "\n".join(f"  {n:,} line(s) errored with {key}" for key, n in rows)

    def line(self) -> str:
        """The one log line per batch the plan asks for."""
        other = ", ".join(f"{getattr(self, k)} {k}" for k in ("canceled", "expired") if getattr(self, k))
        return (f"batch {self.batch_id}: {self.succeeded} succeeded, {self.errored} errored"
                f"{', ' + other if other else ''}; cache_read_input_tokens={self.cache_read_input_tokens:,} "
                f"cache_creation_input_tokens={self.cache_creation_input_tokens:,}; "
                f"token hit rate {self.token_hit_rate:.1%}")

    def as_json(self) -> dict:
        return {**asdict(self), "token_hit_rate": round(self.token_hit_rate, 6)}


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Errors the HTTP layer raises while a streamed body is being read (after the SDK's retries)."""
    errors: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            errors.append(__import__(name).HTTPError)
    return tuple(errors)


def _resume_part(part: Path, summary: ResultSummary) -> Counter:
    """Keep the complete lines of an interrupted download; drop a torn last line. Returns how
    many lines of each custom_id the part holds: the results stream is replayed from its
    start, and the first that many lines of a custom_id are the ones already written. A
    custom_id the API returns twice (both lines billed) is kept twice, never merged: ingest
    stores both and reports the conflict (issue 14, class 6; docs/reliability.md)."""
    seen: Counter = Counter()
    if not part.exists():
        return seen
    good = 0
    with open(part, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                line = json.loads(raw)
            except ValueError:
                break
            seen[line["custom_id"]] += 1
            summary.add(line)
            good += len(raw)
    with open(part, "r+b") as fh:
        fh.truncate(good)
    summary.resumed_lines = sum(seen.values())
    return seen


def _summarize_existing(out: Path, summary: ResultSummary) -> ResultSummary:
    """A finished download is not fetched again; a file that is not one is never overwritten."""
    try:
        with open(out, encoding="utf-8") as fh:
            for raw in fh:
                if raw.strip():
                    line = json.loads(raw)
                    if not isinstance(line, dict) or "custom_id" not in line:
                        raise ValueError("not a result line")
                    summary.add(line)
    except (ValueError, UnicodeDecodeError, OSError):
        raise InputError(f"{out}: already exists and is not a Message Batches results file; choose another "
                         "--out (cachecast never overwrites it)") from None
    return summary


def fetch(client, batch_id: str, out: Path, *, progress: bool | None = None) -> ResultSummary:
    """Stream a batch's results to `out` (via out.part); resumes an interrupted download."""
    import anthropic
    from tqdm import tqdm

    out = Path(out)
    summary = ResultSummary(batch_id)
    if out.exists():
        return _summarize_existing(out, summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    seen = _resume_part(part, summary)
    with api_errors(f"checking batch {batch_id}"):
        batch = client.messages.batches.retrieve(batch_id)
    if batch.processing_status != "ended":
        raise ApiError(f"batch {batch_id} is still {batch.processing_status}; results exist only once it has "
                       "ended (use cachecast status, or submit --wait)")
    if not getattr(batch, "results_url", None):
        when = f" on {_iso(batch.archived_at)}" if getattr(batch, "archived_at", None) else ""
        raise ApiError(f"batch {batch_id} was archived{when}: results can be downloaded for 29 days from the "
                       f"batch's creation ({_iso(batch.created_at)}), and these are gone")
    summary.created_at = _iso(getattr(batch, "created_at", None))
    summary.ended_at = _iso(getattr(batch, "ended_at", None))
    total = sum(getattr(batch.request_counts, k) for k in ("succeeded", "errored", "canceled", "expired"))
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with api_errors(f"downloading results of {batch_id}"), \
                client.messages.batches.with_streaming_response.results(batch_id) as resp, \
                open(part, "a", encoding="utf-8") as fh, \
                tqdm(total=total, initial=summary.resumed_lines, unit="line", desc="fetch", file=sys.stderr,
                     disable=not show or total < 1000) as bar:
            for text in resp.iter_lines():
                if not text.strip():
                    continue
                line = json.loads(text)
                if seen[line["custom_id"]] > 0:  # written before the interruption
                    seen[line["custom_id"]] -= 1
                    continue
                fh.write(text.rstrip("\r\n") + "\n")
                summary.add(line)
                bar.update()
    except (anthropic.APIError, *_transport_errors(), OSError, ValueError) as exc:
        raise ApiError(f"download of {batch_id} stopped after {summary.lines} lines ({redact(type(exc).__name__)}); "
                       f"run the same fetch again to resume from {part.name}") from None
    part.replace(out)
    return summary
