"""Static checks on built request files, before money is spent.

Every check here catches a mistake that the Batches API either rejects after you waited
for the batch (a 5th breakpoint, a bad custom_id, thinking with temperature 0) or accepts
silently while the cache never hits (no breakpoint, a prefix below the model minimum, a
date in the system prompt that makes every request's prefix different).

Files are streamed line by line: only custom_ids, per-prefix counts and one prefix text
per distinct prefix hash are kept, so a 100,000-request shard lints in constant memory
per distinct prefix.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from datetime import date

from .build_files import build_api_version, build_betas
from .batches import CUSTOM_ID_RE, LIMITS
from .build_files import request_files
from ..errors import InputError
from ..jsonl import lines
from .lint_prefix import PrefixTracker
from ..facts import request_rules
from ..facts.models import (DEFAULT_API_VERSION, ModelFacts, RetiredModelError, check_lifecycle, find, geo_problem,
                            max_tokens_problem, output_cap, sampling_problem, thinking_problem, today,
                            tool_choice_problem, unknown_model_message)
from ..facts.sdk_types import message_params_problems as params_problems
from .requests import block_text, breakpoint_rule, params_blocks, prefix_digest, prefix_key
from ..facts.tokenizer import ESTIMATE_ERROR_BAND, estimate_tokens

SHOW_IDS = 5  # custom_ids listed per finding; the count says how many in all
# cachecast's ids: item__treatment__s1 (and item__treatment__t0p7__s1, or __tdef__r1 from older builds)
_CID_SHAPE = re.compile(r"^(?P<item>.+?)__(?P<treatment>[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*?)(?:__t[^_]+)?__[rs]\d+$")


@dataclass
class Finding:
    level: str  # "error" | "warning"
    code: str
    message: str
    fix: str
    custom_ids: list[str] = field(default_factory=list)
    count: int = 0
    where: list[str] = field(default_factory=list)  # file:line, for problems tied to a line
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "code": self.code, "message": self.message, "count": self.count,
                "custom_ids": self.custom_ids, "where": self.where, "detail": self.detail, "fix": self.fix}


class Findings:
    """Collects findings, one per (level, code, message), so 30,000 requests with the same
    problem make one line with the first few ids and a count, not 30,000 lines."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str], Finding] = {}

    def add(self, level: str, code: str, message: str, fix: str, cid: str | None = None,
            where: str | None = None, detail: str | None = None, count: int = 1) -> Finding:
        key = (level, code, message)
        f = self._by_key.get(key)
        if f is None:
            f = self._by_key[key] = Finding(level, code, message, fix, detail=detail)
        f.count += count
        if cid is not None and len(f.custom_ids) < SHOW_IDS:
            f.custom_ids.append(cid)
        if where is not None and len(f.where) < SHOW_IDS:
            f.where.append(where)
        return f

    def all(self) -> list[Finding]:
        return sorted(self._by_key.values(), key=lambda f: f.level != "error")


@dataclass
class LintReport:
    files: int
    requests: int
    findings: list[Finding]
    openai_requests: int = 0  # OpenAI batch lines: only generic checks apply

    @property
    def errors(self) -> int:
        return sum(f.level == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.level == "warning" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "requests": self.requests, "errors": self.errors,
                "warnings": self.warnings, "findings": [f.to_dict() for f in self.findings]}


@dataclass
class _State:
    """What lint keeps while streaming: ids seen, prefixes seen, treatments from the manifest."""

    findings: Findings = field(default_factory=Findings)
    seen: set[str] = field(default_factory=set)
    prefixes: PrefixTracker = field(default_factory=PrefixTracker)
    treatments: dict[str, str] = field(default_factory=dict)
    facts: dict[str, ModelFacts | None] = field(default_factory=dict)
    requests: int = 0
    openai: int = 0
    api_version: str = DEFAULT_API_VERSION  # the build's provider.api_version (build.json), else the SDK's
    betas: tuple[str, ...] = ()  # the anthropic-beta values the build sends (build.json)
    lifecycle: dict[str, tuple[str, str] | None] = field(default_factory=dict)  # model -> (level, sentence)
    day: date = field(default_factory=today)
    automatic: dict[str, set[str]] = field(default_factory=dict)  # model -> whole-prompt hashes (automatic caching)
    automatic_requests: int = 0


def lint_path(path: str | Path, progress: bool = False) -> LintReport:
    """Lint a build directory (requests-*.jsonl, plus manifest.jsonl when present) or one file."""
    path = Path(path)
    files = request_files(path)
    state = _State(api_version=build_api_version(path), betas=build_betas(path))
    manifest = path / "manifest.jsonl" if path.is_dir() else path.parent / "manifest.jsonl"
    if manifest.is_file() and manifest != path:
        state.treatments = _read_treatments(manifest, state.findings)
    total = sum(f.stat().st_size for f in files)
    with tqdm(total=total, unit="B", unit_scale=True, desc="lint", leave=False,
              disable=not progress or total < 50_000_000) as bar:
        for file in files:
            _lint_file(file, state, bar)
    if state.requests == 0:
        first = next(iter(state.findings.all()), None)
        why = f" ({first.message}: {first.where[0]})" if first and first.where else ""
        raise InputError(f"{path}: no request lines to lint{why}")
    state.prefixes.report(state.findings)
    _report_automatic(state)
    return LintReport(files=len(files), requests=state.requests, findings=state.findings.all(),
                      openai_requests=state.openai)


def _read_treatments(manifest: Path, findings: Findings) -> dict[str, str]:
    """custom_id -> treatment, the only manifest field lint needs (to tell a deliberate
    per-treatment prefix from drift)."""
    out: dict[str, str] = {}
    for lineno, text, _ in lines(manifest):
        try:
            row = json.loads(text)
            out[row["custom_id"]] = str(row["treatment"])
        except (ValueError, KeyError, TypeError, RecursionError):
            findings.add("warning", "manifest-invalid", "manifest line is not a manifest row; ignored",
                         "rebuild with cachecast build, or delete manifest.jsonl to lint the requests alone",
                         where=f"{manifest.name}:{lineno}")
    return out


def _lint_file(file: Path, state: _State, bar: tqdm) -> None:
    count = 0
    openai_before = state.openai
    for lineno, text, bad_byte in lines(file):
        bar.update(len(text.encode("utf-8", errors="replace")))
        where = f"{file.name}:{lineno}"
        if bad_byte is not None:
            state.findings.add("error", "invalid-json", "line is not UTF-8 text",
                               "rebuild the file with cachecast build; request files must be UTF-8",
                               where=f"{where} (bad byte at column {bad_byte})")
            continue
        parsed = _parse_line(text, where, state.findings)
        if parsed is None:
            continue
        count += 1
        state.requests += 1
        cid, params, openai = parsed
        _check_custom_id(cid, where, state, pattern=not openai)
        cid = _label(cid)  # reported above if invalid; from here on only a label
        if openai:
            state.openai += 1
            _check_generic(cid, params, state.findings)
        elif _check_shape(cid, params, where, state.findings):
            _check_request(cid, params, state)
    _check_shard(file, count, state.findings, "openai" if state.openai - openai_before == count > 0 else "anthropic")


def _parse_line(text: str, where: str, findings: Findings) -> tuple[Any, dict, bool] | None:
    """(custom_id, params, is_openai) or None after recording why the line is unusable."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else getattr(exc, "msg", exc)
        findings.add("error", "invalid-json", "line is not valid JSON",
                     "rebuild the file with cachecast build; each line must be one JSON request object",
                     where=f"{where} ({why})")
        return None
    if isinstance(obj, dict) and isinstance(obj.get("params"), dict):
        return obj.get("custom_id"), obj["params"], False
    if isinstance(obj, dict) and isinstance(obj.get("body"), dict) and "url" in obj:
        return obj.get("custom_id"), obj["body"], True
    findings.add("error", "not-a-request", "line is not a batch request object {\"custom_id\", \"params\"}",
                 "each line must be {\"custom_id\": ..., \"params\": {...Messages params...}}",
                 cid=_label(obj["custom_id"]) if isinstance(obj, dict) and "custom_id" in obj else None,
                 where=where)
    return None


def _label(cid: Any) -> str:
    """A custom_id as shown in findings: ids that are not strings are shown as JSON."""
    return cid if isinstance(cid, str) else json.dumps(cid)[:70]


def _check_custom_id(cid: Any, where: str, state: _State, pattern: bool = True) -> None:
    if not isinstance(cid, str) or (pattern and not CUSTOM_ID_RE.match(cid)):
        state.findings.add("error", "custom-id-pattern", "custom_id does not match ^[a-zA-Z0-9_-]{1,64}$",
                           "use 1-64 letters, digits, '_' or '-' (cachecast build derives safe ids)",
                           cid=_label(cid), where=where)
        return
    if cid in state.seen:
        state.findings.add("error", "custom-id-duplicate", "custom_id is used more than once",
                           "make every custom_id unique (results are joined back by it)", cid=cid, where=where)
    state.seen.add(cid)


def _check_shape(cid: str, params: dict, where: str, findings: Findings) -> bool:
    model, messages = params.get("model"), params.get("messages")
    if not (isinstance(model, str) and model and isinstance(messages, list) and messages):
        findings.add("error", "not-a-request", "params need a 'model' string and a non-empty 'messages' list",
                     "rebuild the file with cachecast build", cid=cid, where=where)
        return False
    problem = _shape_problem(params)
    if problem:
        findings.add("error", "not-a-request", "params are not valid Messages params; the API would reject "
                     "the request", "rebuild the file with cachecast build", cid=cid, where=where, detail=problem)
        return False
    return True


def _shape_problem(params: dict) -> str | None:
    """The first structural problem the API would reject (the cache checks below read blocks and
    would otherwise skip what is not a block, so a malformed request could lint clean)."""
    if "system" in params and not _content_ok(params["system"]):
        return "'system' must be a string or a list of content blocks"
    for i, msg in enumerate(params["messages"]):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            return f"messages[{i}] must be an object with role 'user' or 'assistant'"
        if not _content_ok(msg.get("content")):
            return f"messages[{i}].content must be a string or a list of content blocks"
    tools = params.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
        return "'tools' must be a list of tool definitions"
    if params.get("thinking") is not None and not isinstance(params["thinking"], dict):
        return "'thinking' must be an object"
    return None


def _content_ok(content: Any) -> bool:
    if isinstance(content, str):
        return True
    if not isinstance(content, list) or not content:
        return False
    for block in content:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return False
        if block["type"] == "text" and not isinstance(block.get("text"), str):
            return False
    return True


def _check_request(cid: str, params: dict, state: _State) -> None:
    facts = _facts(params["model"], cid, state)
    _check_generic(cid, params, state.findings)
    _check_types(cid, params, state)
    if facts is not None:
        _check_model_rules(cid, params, facts, state)
    _check_cache(cid, params, facts, state)


def _facts(model: str, cid: str, state: _State) -> ModelFacts | None:
    if model not in state.facts:
        state.facts[model] = find(model)
        state.lifecycle[model] = _lifecycle(model, state.day) if state.facts[model] is not None else None
    if state.facts[model] is None:
        state.findings.add("error", "unknown-model", unknown_model_message(model),
                           "fix the model id (the API answers 404 not_found_error for every request)", cid=cid)
    found = state.lifecycle.get(model)
    if found is not None:  # every request of a retired model would come back errored: each is named
        level, sentence = found
        code, fix = (("retired-model", "change provider.model in the config and rebuild") if level == "error" else
                     ("deprecated-model", "plan the move before the retirement date"))
        state.findings.add(level, code, sentence, fix, cid=cid)
    return state.facts[model]


def _lifecycle(model: str, day: date) -> tuple[str, str] | None:
    """Once per model: (level, sentence) for a retired or deprecated model, else None."""
    try:
        warning = check_lifecycle(model, day)
    except RetiredModelError as exc:
        return "error", str(exc).split(" (cachecast model table")[0]
    return ("warning", warning) if warning else None


def _check_generic(cid: str, params: dict, findings: Findings) -> None:
    """Rules of the Batches API itself: max_tokens >= 1, no streaming, no fast mode."""
    mt = params.get("max_tokens")
    if isinstance(mt, bool) or not isinstance(mt, int) or mt < 1:
        why = "is 0: pre-warming (max_tokens 0) is not allowed in a batch" if mt == 0 else "is missing or below 1"
        findings.add("error", "max-tokens", f"max_tokens {why}", "set max_tokens to a positive integer "
                     "(the config's max_tokens); pre-warm with cachecast probe --prewarm instead", cid=cid)
    if params.get("stream") is not None:
        findings.add("error", "stream-not-allowed", "stream is set; the Batches API does not take streaming "
                     "requests", "remove 'stream' from the request params", cid=cid)
    if params.get("speed") is not None:
        findings.add("error", "speed-not-allowed", "speed is set; fast mode is not available in batches",
                     "remove 'speed' from the request params", cid=cid)


def _check_types(cid: str, params: dict, state: _State) -> None:
    """Keys and types against the installed SDK's own request TypedDicts (an SDK upgrade updates it)."""
    problems = [p for p in params_problems(params, state.api_version) if not _covered(p)]
    if problems:
        state.findings.add("error", "invalid-params", f"params do not match the Messages API "
                           f"({state.api_version}): {problems[0].split(':')[0]}",
                           "rebuild with cachecast build, or remove the key the API does not take",
                           cid=cid, detail="; ".join(problems[:3]))


_COVERED = ("temperature", "top_p", "top_k", "stream")  # reported by their own, more specific checks


def _covered(problem: str) -> bool:
    path = problem.split(":")[0]
    return path.split(".")[0] in _COVERED or "cache_control" in path


def _check_model_rules(cid: str, params: dict, facts: ModelFacts, state: _State) -> None:
    f = state.findings
    problem = sampling_problem(facts, state.api_version, params)
    if problem:
        f.add("error", "sampling-params", problem, "remove temperature/top_p/top_k and use repeats for samples "
              "(or pin provider.api_version 2023-06-01 on a model that takes them)", cid=cid)
    effort = params.get("output_config", {}).get("effort") if isinstance(params.get("output_config"), dict) else None
    thinking = params.get("thinking") if isinstance(params.get("thinking"), dict) else None
    mt = params.get("max_tokens") if isinstance(params.get("max_tokens"), int) else None
    problem = thinking_problem(facts, thinking, effort, mt)
    if problem:
        f.add("error", "thinking-shape", problem, "set the config's thinking to a type this model accepts "
              f"({', '.join(facts.thinking_modes)})", cid=cid)
    problem = geo_problem(facts, params) or request_rules.geo_value_problem(params)
    if problem:
        f.add("error", "inference-geo", problem, "remove inference_geo, or use a 4.6-or-later model and a region "
              "the API takes", cid=cid)
    if max_tokens_problem(facts, mt, state.betas, in_batch=True):
        f.add("error", "max-tokens", f"max_tokens {mt:,} is above {facts.id}'s "
              f"{output_cap(facts, state.betas, in_batch=True):,}-token maximum", "lower max_tokens in the config",
              cid=cid)
    problem = tool_choice_problem(facts, params)
    if problem:
        f.add("error", "tool-choice", problem, "use tool_choice auto (with strict tools), or a model that takes a "
              "forced tool_choice", cid=cid)
    problem = request_rules.content_problem(params)
    if problem:
        f.add("error", "empty-content", problem, "remove the empty text block (an empty prompt file renders one)",
              cid=cid)


@dataclass
class _Breakpoint:
    index: int  # position in the tools -> system -> messages block list
    ttl: str
    automatic: bool = False  # the top-level cache_control: the whole prompt, unique by design


def _breakpoints(cid: str, params: dict, blocks: list[dict], findings: Findings) -> list[_Breakpoint]:
    """Breakpoints in prefix order; top-level (automatic) cache_control counts as one at the end."""
    marks = [(i, b["cache_control"], False) for i, b in enumerate(blocks) if b.get("cache_control") is not None]
    if params.get("cache_control") is not None:
        marks.append((len(blocks) - 1, params["cache_control"], True))
    out = []
    for i, cc, automatic in marks:
        ttl = cc.get("ttl", "5m") if isinstance(cc, dict) else None
        if not isinstance(cc, dict) or cc.get("type") != "ephemeral" or ttl not in ("5m", "1h"):
            findings.add("error", "bad-cache-control", "cache_control must be {\"type\": \"ephemeral\"} with "
                         "optional ttl \"5m\" or \"1h\"", "fix the cache_control value", cid=cid,
                         detail=f"found {json.dumps(cc)[:80]}")
            continue
        out.append(_Breakpoint(i, ttl, automatic))
    return out


def _check_cache(cid: str, params: dict, facts: ModelFacts | None, state: _State) -> None:
    blocks = params_blocks(params)
    bps = _breakpoints(cid, params, blocks, state.findings)
    f = state.findings
    if not bps:
        _no_breakpoint(cid, params, blocks, facts, f)
        return
    ttls = [b.ttl for b in bps]
    _check_breakpoint_rule(cid, params, blocks, bps, f)
    if "5m" in ttls and "1h" not in ttls:
        f.add("warning", "short-ttl", "5-minute cache entries in a batch: batches often run longer than 5 "
              "minutes, so entries may expire between requests",
              "consider provider.request_overrides.cache_control.ttl: 1h", cid=cid)
    texts = tuple(block_text(b) for b in blocks)
    if params.get("cache_control") is not None:
        state.automatic_requests += 1
        state.automatic.setdefault(params["model"], set()).add(prefix_digest(texts))
    tokens = _track_prefixes(cid, params["model"], texts, bps, state)
    if facts is not None:
        _check_minimum(cid, params["model"], tokens, facts, f)


_RULES = {  # code -> (message, fix); the API's own sentence goes in the detail
    "too-many-breakpoints": ("more than 4 cache_control breakpoints (automatic caching takes a slot unless the last "
                             "block has its own); the API rejects the request",
                             "keep at most 4 (system, plus tools and context if configured)"),
    "automatic-ttl-mismatch": ("the top-level (automatic) cache_control TTL differs from the TTL of the last block's "
                               "own breakpoint; the API rejects the request",
                               "use one ttl for both (the config's cache_control.ttl sets them together)"),
    "ttl-order": ("a 1h breakpoint comes after a 5m one (the automatic one included); longer TTLs must come first "
                  "(tools -> system -> messages)", "use one ttl for all breakpoints, or put the 1h ones first"),
}


def _check_breakpoint_rule(cid: str, params: dict, blocks: list[dict], bps: list[_Breakpoint], f: Findings) -> None:
    """The API's breakpoint rules, from the one function the builder and the local server use."""
    explicit = [b.ttl for b in bps if not b.automatic]
    top = next((b.ttl for b in bps if b.automatic), None)
    last = blocks[-1].get("cache_control") if blocks else None
    last_ttl = last.get("ttl", "5m") if isinstance(last, dict) else None
    found = breakpoint_rule(explicit, last_ttl, top)
    if found is None:
        return
    code, api_message = found
    message, fix = _RULES[code]
    layout = " -> ".join(b.ttl + (" (automatic)" if b.automatic else "") for b in bps)
    f.add("error", code, message, fix, cid=cid, detail=f"{layout}: {api_message}")


def _track_prefixes(cid: str, model: str, texts: tuple[str, ...], bps: list[_Breakpoint],
                    state: _State) -> list[int]:
    """Feed each breakpoint's prefix to the drift tracker; return the estimated prefix sizes."""
    treatment = state.treatments.get(cid) or _treatment_from_id(cid)
    known = state.facts.get(model) is not None
    sizes = []
    for k, bp in enumerate(bps):
        prefix = texts[: bp.index + 1]
        digest, tokens = prefix_key(prefix, model) if known else (prefix_digest(prefix), 0)
        if not bp.automatic:  # the whole prompt differs per request by design: not drift
            state.prefixes.add(model, k, digest, prefix, cid, treatment)
        sizes.append(tokens)
    return sizes


def _report_automatic(state: _State) -> None:
    """Automatic caching caches the whole prompt; it pays only when a whole prompt comes again."""
    distinct = sum(len(h) for h in state.automatic.values())
    if state.automatic_requests > 1 and distinct == state.automatic_requests:
        state.findings.add(
            "warning", "automatic-never-read", "automatic caching (top-level cache_control) writes each "
            "request's whole prompt, and no two requests here share one: every request pays the write premium "
            "and none can read it", "turn cache_control.automatic off for single-turn evaluations, or draw "
            "repeats so the same prompt is sent more than once", count=state.automatic_requests,
            detail=f"{distinct:,} distinct whole prompts in {state.automatic_requests:,} requests")


def _treatment_from_id(cid: str) -> str | None:
    """Without a manifest, cachecast's own ids (item__treatment__tX__rN) still name the arm."""
    m = _CID_SHAPE.match(cid)
    return m.group("treatment") if m else None


def _check_minimum(cid: str, model: str, tokens: list[int], facts: ModelFacts, f: Findings) -> None:
    """Sizes go in `detail`, not the message, so one problem across arms stays one finding."""
    minimum = facts.min_cache_tokens
    if max(tokens) < minimum:
        f.add("error", "prefix-below-minimum", f"cached prefix is below the {minimum}-token minimum for {model}; "
              "Anthropic will not cache it",
              f"lengthen the shared prefix past {minimum} tokens, or drop cache_control and budget without caching",
              cid=cid, detail=f"~{max(tokens)} tokens (estimate)")
    elif min(tokens) < minimum:
        f.add("warning", "prefix-below-minimum", f"an earlier breakpoint's prefix is below the {minimum}-token "
              f"minimum for {model}; it uses a breakpoint slot and caches nothing",
              "remove that breakpoint (tools or context) or lengthen what precedes it", cid=cid,
              detail=f"~{min(tokens)} tokens (estimate)")
    elif max(tokens) < minimum * (1 + ESTIMATE_ERROR_BAND):
        f.add("warning", "prefix-near-minimum", f"cached prefix is within the estimate's +/-"
              f"{ESTIMATE_ERROR_BAND:.0%} of the {minimum}-token minimum for {model}",
              "confirm with cachecast count --exact; below the minimum nothing is cached", cid=cid,
              detail=f"~{max(tokens)} tokens (estimate)")


def _no_breakpoint(cid: str, params: dict, blocks: list[dict], facts: ModelFacts | None, f: Findings) -> None:
    """No breakpoint: an error, unless the shared part is too short to cache anyway."""
    n_shared = len(params_blocks({"tools": params.get("tools"), "system": params.get("system")}))
    shared = "".join(block_text(b) for b in blocks[:n_shared])
    if facts is not None and shared:
        tokens = estimate_tokens(shared, params["model"])
        if tokens < facts.min_cache_tokens:
            f.add("warning", "prefix-below-minimum", f"no breakpoint, and the system prompt and tools are below "
                  f"the {facts.min_cache_tokens}-token minimum for {params['model']}, so they cannot be cached",
                  f"nothing to fix unless you lengthen the shared prefix past {facts.min_cache_tokens} tokens",
                  cid=cid, detail=f"~{tokens} tokens (estimate)")
            return
    f.add("error", "no-breakpoint", "no cache_control breakpoint: every request pays the full input price",
          "set provider.request_overrides.cache_control.enable_system_cache: true and rebuild "
          "(or add cache_control to the last shared system block)", cid=cid)


def _check_shard(file: Path, count: int, findings: Findings, provider: str = "anthropic") -> None:
    size = file.stat().st_size
    limits = LIMITS[provider]
    if count > limits.requests or size > limits.bytes:
        findings.add("error", "shard-too-large", f"a {provider} batch holds at most {limits.requests:,} requests "
                     f"and {limits.bytes:,} bytes", "rebuild with a smaller --shard-size (cachecast build splits "
                     "shards automatically)", where=file.name,
                     detail=f"{file.name}: {count:,} requests, {size / 2**20:.1f} MB")


def render(report: LintReport, path: Path) -> str:
    """The human-readable report: one block per finding, then a summary line."""
    lines = []
    for f in report.findings:
        ids = ", ".join(f.custom_ids)
        more = f" +{f.count - len(f.custom_ids)} more" if f.count > len(f.custom_ids) and f.custom_ids else ""
        who = f"{f.count} request(s): {ids}{more}" if f.custom_ids else ", ".join(f.where) or f"{f.count}x"
        lines.append(f"{f.level.upper():8} {f.code}  [{who}]")
        lines.append(f"         {f.message}")
        if f.detail:
            lines.append(f"         {f.detail}")
        if f.where and f.custom_ids:
            lines.append(f"         at {', '.join(f.where)}")
        lines.append(f"         fix: {f.fix}")
    lines.append(summary(report, path))
    return "\n".join(lines)


def summary(report: LintReport, path: Path) -> str:
    scope = f"{report.requests} request(s) in {report.files} file(s) under {path}"
    note = f"; {report.openai_requests} OpenAI request(s): cache checks do not apply" if report.openai_requests else ""
    if not report.findings:
        return f"lint: clean, {scope}{note}"
    return f"lint: {report.errors} error(s), {report.warnings} warning(s) in {scope}{note}"
