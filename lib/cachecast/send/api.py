"""The SDK client, and submitting and watching Message Batches with it (downloads: results.py).

Why the pieces look the way they do:
- One place makes every client (`make_client`, `make_admin_client`), so every call sends the
  run's anthropic-version and is held to send/guard.py: one deadline per call (attempts,
  retry waits and the whole answer), a bounded retry-after, answers checked against the
  SDK's types. Paged listings go through `list_all` (one deadline, a page limit).
- One batch per request shard, recorded in `batches.json` next to the manifest as soon as
  it is created, so re-running `submit` never pays for the same shard twice.
- Retries are the SDK's own (`max_retries`); we only turn what is left into one sentence
  (ApiError, exit 2) that says what was kept. The key comes from ANTHROPIC_API_KEY only and
  every message passes through `redact`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
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
DEFAULT_CALL_DEADLINE = 300.0  # one call: all attempts, retry waits and the whole answer (send/guard.py)
MAX_PAGES = 50  # pages of one listing (models: one page of 100 holds every model there is)
ADMIN_KEY_ENV = "ANTHROPIC_ADMIN_KEY"
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
    key = os.environ.get(ADMIN_KEY_ENV, "").strip()
    if not key:
        raise ApiError(f"{ADMIN_KEY_ENV} is not set; reconcile reads Anthropic's cost report, which needs an "
                       "Admin API key (sk-ant-admin..., made by an organization admin in the Claude Console): "
                       "export it in that environment variable (cachecast never reads ANTHROPIC_API_KEY for this "
                       "and never writes the key down)")
    return key


def make_admin_client(base_url: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                      timeout: float = DEFAULT_TIMEOUT, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                      call_deadline: float = DEFAULT_CALL_DEADLINE):
    """make_client with the Admin API key (cachecast reconcile), so the same timeouts, retries and
    guard apply (one deadline per call; list its reports with `list_all`)."""
    return make_client(base_url, max_retries, timeout=timeout, connect_timeout=connect_timeout,
                       call_deadline=call_deadline, key=admin_key())


def make_client(base_url: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                timeout: float = DEFAULT_TIMEOUT, api_version: str = DEFAULT_API_VERSION,
                connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, betas: tuple[str, ...] = (), *,
                key: str | None = None, call_deadline: float = DEFAULT_CALL_DEADLINE):
    """The one place cachecast makes an SDK client (count, submit, status, fetch, models, probe,
    reconcile), so every call sends the config's anthropic-version and the build's anthropic-beta
    values (build.json "betas"), and is held to the guard (send/guard.py: one deadline per call,
    bounded retry-after, answers checked); base_url (or ANTHROPIC_BASE_URL) points it at another
    server, e.g. the local test server. `key`: another key than ANTHROPIC_API_KEY (the Admin API
    key of make_admin_client)."""
    import anthropic

    from . import guard

    if api_version not in API_VERSIONS:
        raise InputError(f"anthropic-version {api_version!r} is not one cachecast knows ({', '.join(API_VERSIONS)})")
    return anthropic.Anthropic(api_key=key or api_key(), base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
                               max_retries=max_retries,
                               timeout=anthropic.Timeout(timeout, connect=min(connect_timeout, timeout)),
                               default_headers={"anthropic-version": api_version,
                                                **({"anthropic-beta": ",".join(betas)} if betas else {})},
                               **guard.install(call_deadline, max_retries))


def pages(client: Any, first_page: Callable[[], Any], what: str, max_pages: int = MAX_PAGES) -> Iterator[Any]:
    """The pages of a listing (models.list, the Admin API's reports), all under one deadline,
    stopping with one sentence after `max_pages` pages: a server answering has_more: true
    forever would otherwise be followed forever (the SDK's iter_pages has no limit). `what`
    names the listing in that sentence ("the Models API"); iterate it inside `api_errors` to
    add the action and what was kept."""
    from . import guard

    with guard.one_deadline(client):
        page = first_page()
        for number in range(1, max_pages + 1):
            yield page
            if not page.has_next_page():
                return
            if number < max_pages:
                page = page.get_next_page()
    raise guard.PageLimit(f"{what} still said has_more after {max_pages} pages; stopped there (a real listing is a "
                          "few pages: is --base-url the Anthropic API?)")


def list_all(client: Any, first_page: Callable[[], Any], what: str, max_pages: int = MAX_PAGES) -> list[Any]:
    """Every item of a paged listing, through `pages`."""
    return [item for page in pages(client, first_page, what, max_pages) for item in (getattr(page, "data", None) or [])]


def check_batch_id(batch_id: Any, where: str = "the API") -> str:
    """An id that will name a file must look like the API's own ids; anything else stops here."""
    if not isinstance(batch_id, str) or not BATCH_ID_RE.match(batch_id):
        shown = json.dumps(batch_id)[:80] if not isinstance(batch_id, str) else repr(batch_id[:80])
        raise ApiError(f"{where} returned the batch id {shown}, which is not a Message Batches id "
                       "(msgbatch_ followed by letters, digits, '_' or '-'); nothing was written for it")
    return batch_id


@contextlib.contextmanager
def api_errors(action: str, kept: str | Callable[[], str] | None = None) -> Iterator[None]:
    """Turn what the SDK raises (after its retries) and what the guard refuses into one clear,
    redacted sentence; `kept` says what was kept when the API did not answer (a callable is
    asked at the time of the failure)."""
    import anthropic

    from .guard import Refused

    def tail() -> str:
        text = kept() if callable(kept) else kept
        return f"; {text}" if text else ""

    try:
        yield
    except Refused as exc:
        raise ApiError(f"{action}: {exc}{tail()}") from None
    except anthropic.AuthenticationError:
        raise ApiError(f"{action}: the API refused the key in ANTHROPIC_API_KEY (401); check that it is "
                       "valid and belongs to this workspace") from None
    except anthropic.PermissionDeniedError as exc:
        raise ApiError(f"{action}: permission denied (403): {_message(exc)}") from None
    except anthropic.RateLimitError:
        raise ApiError(f"{action}: still rate limited (429) after the SDK's retries; wait a minute and "
                       f"run the same command again{tail()}") from None
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
                       f"({_message(exc)}); try again later{tail()}") from None
    except anthropic.APITimeoutError:
        raise ApiError(f"{action}: the API did not answer in time (after the SDK's retries; --timeout and "
                       f"--connect-timeout set the waits); check the network and run it again{tail()}") from None
    except anthropic.APIConnectionError as exc:
        raise ApiError(f"{action}: could not reach the API ({redact(str(exc.__cause__ or exc))[:200]}); "
                       f"check the network or --base-url{tail()}") from None


def _message(exc: Any) -> str:
    """The API's error message, redacted and short (a proxy's 500 can be a 10 MB HTML page)."""
    body = getattr(exc, "body", None)
    text = str(getattr(exc, "message", exc))
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            text = str(err["message"])
    text = " ".join(redact(text).split())
    return text if len(text) <= 300 else text[:297] + "..."


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
    redacted_lines: int = 0  # result lines saved with the API key replaced by [redacted] (the server echoed it)


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
        with api_errors(f"submitting {shard.name}", _kept_after_submit(build_dir, len(result.new))):
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


def _kept_after_submit(build_dir: Path, created: int) -> str:
    """What a failed create leaves: the batches recorded so far, and the one doubt (a create the
    API received but did not confirm may exist without a record)."""
    return (f"{created} batch(es) created by this run before it are recorded in {build_dir / RECORD_FILE}; if the API "
            "received this create it may exist unrecorded, so check the Console's batch list before running submit "
            "again")


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
            with api_errors("checking batch status", "the batches keep running; run the same command again later"):
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
