"""Downloading a batch's results: streamed to FILE.part line by line (never the whole file in
memory), renamed when complete, resumable.

Why it looks the way it does:
- An interrupted download resumes: lines already in the .part file are kept (a torn last
  line is dropped) and as many lines of each key as it holds are skipped when the stream is
  read again; results files of an ended batch do not change, so this is exact. Every line is
  kept, a repeated custom_id too (both lines were billed; ingest stores both and reports
  the conflict).
- The server's lines are kept as received, bytes and all: a line without custom_id, a JSON
  array, a usage number out of range or bytes that are not UTF-8 once crashed fetch (exit 3);
  now such a line is saved, counted as malformed with its reason, summed nowhere, and ingest
  quarantines it. The resume bookkeeping keys a line by its custom_id only once the line is
  known to be an object with one (else by its bytes).
- The API key, echoed by a server into a line (an error message quoting the request's
  headers), is replaced by [redacted] before the line is written, and the number of lines
  so changed is recorded (`ResultSummary.redacted_lines`, and batches.json by
  `record_download`), as the store records the ingest's redaction.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import REDACTED, ApiError, InputError, redact, redact_bytes
from .api import _iso, api_errors, read_records, write_records

MAX_LINE_BYTES = 256 << 20  # one result line longer than this is not a line: the stream is broken


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
    malformed: int = 0  # lines that are not usable result lines: kept as received, quarantined by ingest
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    redacted_lines: int = 0  # lines in which the API key was replaced by [redacted] before saving

    @property
    def token_hit_rate(self) -> float:
        prompt = self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
        return self.cache_read_input_tokens / prompt if prompt else 0.0

    def add(self, line: Any) -> None:
        """Count one line (parsed JSON, or NOT_JSON). A line that is not a usable result line
        (not an object, no custom_id, an unknown result type, a usage number that is not a
        token count) is counted as malformed with its reason and summed nowhere."""
        self.lines += 1
        problem = line_problem(line)
        if problem:
            self.malformed += 1
            self.malformed_reasons[problem] = self.malformed_reasons.get(problem, 0) + 1
            return
        result = line["result"]
        kind = result["type"]
        setattr(self, kind, getattr(self, kind) + 1)
        if kind == "errored":
            self._count_error(result)
        if kind == "succeeded":
            usage = result["message"]["usage"]
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

    def malformed_summary(self) -> str:
        rows = sorted(self.malformed_reasons.items(), key=lambda kv: -kv[1])
        return "; ".join(f"{n:,} {reason}" for reason, n in rows[:5]) + ("; ..." if len(rows) > 5 else "")

    def line(self) -> str:
        """The one log line per batch the plan asks for."""
        other = ", ".join(f"{getattr(self, k)} {k}" for k in ("canceled", "expired", "malformed") if getattr(self, k))
        return (f"batch {self.batch_id}: {self.succeeded} succeeded, {self.errored} errored"
                f"{', ' + other if other else ''}; cache_read_input_tokens={self.cache_read_input_tokens:,} "
                f"cache_creation_input_tokens={self.cache_creation_input_tokens:,}; "
                f"token hit rate {self.token_hit_rate:.1%}")

    def as_json(self) -> dict:
        return {**asdict(self), "token_hit_rate": round(self.token_hit_rate, 6)}


NOT_JSON = object()
_RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")


def line_problem(line: Any) -> str | None:
    """Why a downloaded line is not a usable result line (ingest's words), or None."""
    from .._bounds import usage_problems

    if line is NOT_JSON:
        return "not JSON"
    if not isinstance(line, dict):
        return f"not a result line (a JSON {'list' if isinstance(line, list) else type(line).__name__})"
    if not isinstance(line.get("custom_id"), str) or not line["custom_id"]:
        return "custom_id missing"
    result = line.get("result")
    kind = result.get("type") if isinstance(result, dict) else None
    if kind not in _RESULT_TYPES:
        return "result missing" if not isinstance(result, dict) else f"unknown result type {_short(kind)}"
    if kind == "succeeded":
        message = result.get("message")
        problems = usage_problems(message.get("usage") if isinstance(message, dict) else None)
        if problems:
            return problems[0] if isinstance(message, dict) and "usage" in message else \
                "usage missing or null on a succeeded line"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_line(raw: bytes) -> Any:
    """A line as JSON, or NOT_JSON (invalid, not UTF-8, nested too deeply)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return NOT_JSON


def _line_key(raw: bytes, line: Any) -> tuple[str, str]:
    """What identifies a line for resuming: its custom_id when it has one (a repeated custom_id
    counts each time), else its bytes; never an index into a line not yet checked."""
    if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
        return ("id", line["custom_id"])
    return ("raw", hashlib.sha256(raw).hexdigest())


def _saved(raw: bytes) -> bytes:
    """A line as saved: without its line end, the API key replaced by [redacted]."""
    return redact_bytes(raw.rstrip(b"\r"))


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Errors the HTTP layer raises while a streamed body is being read (after the SDK's retries)."""
    errors: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            errors.append(__import__(name).HTTPError)
    return tuple(errors)


def _stream_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines of a byte stream, as bytes: the server's bytes are kept as received (a line that
    is not UTF-8 or not JSON is saved too, and quarantined by ingest)."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        if b"\n" not in chunk:
            if len(buffer) > MAX_LINE_BYTES:
                raise ApiError(f"the results stream sent a line longer than {MAX_LINE_BYTES >> 20} MiB; stopped")
            continue
        *complete, buffer = buffer.split(b"\n")
        yield from complete
    if buffer:
        yield buffer


def _resume_part(part: Path, summary: ResultSummary) -> Counter:
    """Keep the complete lines of an interrupted download; drop a torn last line (no newline).
    Returns how many lines of each key (custom_id, else the line's bytes) the part holds: the
    results stream is replayed from its start, and the first that many lines of a key are the
    ones already written. A custom_id the API returns twice (both lines billed) is kept twice,
    never merged: ingest stores both and reports the conflict (issue 14, class 6)."""
    seen: Counter = Counter()
    if not part.exists():
        return seen
    good = 0
    with open(part, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            good += len(raw)
            text = raw[:-1]
            if not text.strip():
                continue
            line = parse_line(text)
            seen[_line_key(text, line)] += 1
            summary.add(line)
            summary.redacted_lines += REDACTED.encode() in text
    with open(part, "r+b") as fh:
        fh.truncate(good)
    summary.resumed_lines = sum(seen.values())
    return seen


def _summarize_existing(out: Path, summary: ResultSummary) -> ResultSummary:
    """A finished download is not fetched again; a file that is not one is never overwritten."""
    try:
        with open(out, "rb") as fh:
            for raw in fh:
                text = raw.rstrip(b"\r\n")
                if text.strip():
                    summary.add(parse_line(text))
                    summary.redacted_lines += REDACTED.encode() in text
    except OSError:
        summary.lines = 0
    if summary.lines == summary.malformed:  # no line at all is a result line
        raise InputError(f"{out}: already exists and is not a Message Batches results file; choose another "
                         "--out (cachecast never overwrites it)") from None
    return summary


def fetch(client, batch_id: str, out: Path, *, progress: bool | None = None) -> ResultSummary:
    """Stream a batch's results to `out` (via out.part); resumes an interrupted download.
    Lines are saved as received (the key redacted), malformed ones too: the summary counts
    them and ingest quarantines them with their reasons."""
    import anthropic
    from tqdm import tqdm

    out = Path(out)
    summary = ResultSummary(batch_id)
    if out.exists():
        return _summarize_existing(out, summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    seen = _resume_part(part, summary)

    def kept() -> str:
        if summary.lines:
            return f"the {summary.lines:,} lines downloaded so far are kept in {part}; run the same fetch again to resume"
        return "nothing was downloaded; run the same fetch again"

    with api_errors(f"checking batch {batch_id}", kept):
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
        with api_errors(f"downloading results of {batch_id}", kept), \
                client.messages.batches.with_streaming_response.results(batch_id) as resp, \
                open(part, "ab") as fh, \
                tqdm(total=total, initial=summary.resumed_lines, unit="line", desc="fetch", file=sys.stderr,
                     disable=not show or total < 1000) as bar:
            for raw in _stream_lines(resp.iter_bytes()):
                text = _saved(raw)
                if not text.strip():
                    continue
                line = parse_line(text)
                key = _line_key(text, line)
                if seen[key] > 0:  # written before the interruption
                    seen[key] -= 1
                    continue
                fh.write(text + b"\n")
                summary.add(line)
                summary.redacted_lines += text != raw.rstrip(b"\r")
                bar.update()
    except (anthropic.APIError, *_transport_errors(), OSError) as exc:
        raise ApiError(f"download of {batch_id} stopped after {summary.lines} lines ({redact(type(exc).__name__)}); "
                       f"run the same fetch again to resume from {part.name}") from None
    part.replace(out)
    return summary


def record_download(build_dir: Path, summary: ResultSummary, out: Path) -> bool:
    """Note in DIR/batches.json what the download of one of its batches kept: the results
    file and how many lines had the API key redacted. False when the record has no such batch."""
    records = read_records(build_dir)
    for record in records:
        if record.batch_id == summary.batch_id:
            with contextlib.suppress(ValueError):
                record.results = str(Path(out).resolve().relative_to(Path(build_dir).resolve()))
            record.redacted_lines = summary.redacted_lines
            write_records(build_dir, records)
            return True
    return False
