"""The organization cost and usage reports of the local test server (tests/fakeapi.py).

    GET /v1/organizations/analytics/cost   -> {"data": [BetaAnalyticsCostItem], "has_more", "next_page",
                                               "data_refreshed_at"}
    GET /v1/organizations/analytics/usage  -> the same with BetaAnalyticsUsageItem

What `client.beta.organization.analytics.cost.list` / `.usage.list` of the SDK send and read
(anthropic 2.16). Shapes come from the SDK's own types, so an SDK upgrade changes them
here too: the query is checked against CostListParams / UsageListParams
(cachecast.facts.sdk_types: an unknown parameter or group_by value is a 400 in pydantic's
words), every group object carries exactly the fields of BetaAnalyticsCostGroup /
BetaAnalyticsUsageGroup, and the token types are BetaAnalyticsTokenType's.

As strict as the documented API (the SDK's docstrings): the beta header
analytics-usage-cost-2026-08-24; starting_at RFC 3339 with a zone, no earlier than
2026-01-01T00:00:00Z and within the last 365 days; ending_at required with
time_bucket_width; a range of at most 31 days; at most 5 group_by dimensions besides
cost_type and token_type; limit 1-1000 (default 20) rows per page, cost_type/token_type
fan-out rows not counted; an opaque `page` cursor tied to its query; an Admin API key
(sk-ant-admin...). Only time_bucket_width 1d is served (that is what cachecast asks for).

Not documented, so a knob here with a default, and tests for each way:
  non_admin_status  what a standard key gets: 403 (default) or 401
  batch_discount    "in_amount": amount is after the Batches API's 50%, list_amount before
                    (default); "in_list": both after; "none": neither (the 50% would come
                    as a credit elsewhere)
  amount_unit       "cents" (fractional cents, as the SDK says; default) or "dollars"
  batch_day         the day a line's cost lands on: "processed" (when it ran; default),
                    "created" or "ended" (its batch's)
The bill itself is `records` (one BilledUsage per slice of traffic) priced at `prices`
(standard $ per million tokens per model, by token type; "web_search" per 1,000), with
inference_geo "us" at `geo_multiplier`. `max_page` caps rows per page below `limit` (to
test pagination); `queries` records every accepted query (to test range splitting).
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, get_args, get_type_hints

from anthropic.types.beta.organization.analytics import CostListParams, UsageListParams
from anthropic.types.beta.organization.analytics.beta_analytics_cost_group import BetaAnalyticsCostGroup
from anthropic.types.beta.organization.analytics.beta_analytics_usage_group import BetaAnalyticsUsageGroup
from anthropic.types.beta.organization.beta_analytics_token_type import BetaAnalyticsTokenType

from cachecast.facts import sdk_types

COST_PATH = "/v1/organizations/analytics/cost"
USAGE_PATH = "/v1/organizations/analytics/usage"
BETA = "analytics-usage-cost-2026-08-24"
EARLIEST = datetime(2026, 1, 1, tzinfo=timezone.utc)
MAX_SPAN = timedelta(days=31)
TOKEN_TYPES = get_args(BetaAnalyticsTokenType)
FANOUT = ("cost_type", "token_type")
MILLION = Decimal(1_000_000)
# the record's attribute for each token type
TOKEN_FIELDS = {"uncached_input_tokens": "uncached_input_tokens",
                "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
                "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
                "cache_read_input_tokens": "cache_read", "output_tokens": "output_tokens"}
# filter parameter -> the record's attribute it matches
FILTERS = {"models": "model", "service_tiers": "service_tier", "speeds": "speed", "inference_geos": "inference_geo",
           "context_windows": "context_window", "products": "product", "api_key_ids": "api_key_id",
           "workspace_ids": "workspace_id", "actor_ids": "actor_id", "rbac_group_ids": "rbac_group_id"}
Reply = tuple[int, dict]


PATTERN = r"/v1/organizations/analytics/(cost|usage)"  # mounted by tests/fakeapi.py (add_route)


def handler(api: Any, match: Any, query: dict[str, list[str]], body: Any, headers: Any) -> Reply:
    """The route tests/fakeapi.py calls (after its auth, version and fault checks)."""
    return api.analytics.route(match.group(0), query, headers)


@dataclass
class BilledUsage:
    """One slice of traffic as Anthropic bills it (the fake's ground truth)."""

    at: datetime  # when it ran, UTC
    model: str
    uncached_input_tokens: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    output_tokens: int = 0
    web_search_requests: int = 0
    requests: int = 1
    service_tier: str = "batch"
    inference_geo: str | None = "global"
    speed: str = "standard"
    context_window: str = "0-200k"
    product: str = "message_batches_api"
    api_key_id: str | None = None
    workspace_id: str | None = None
    actor_id: str | None = None
    rbac_group_id: str | None = None
    batch_created_at: datetime | None = None
    batch_ended_at: datetime | None = None
    rates: dict[str, Decimal] = field(default_factory=dict)  # this slice's own standard rates (a price change)


@dataclass
class Analytics:
    """The reports' state and knobs (see the module docstring)."""

    records: list[BilledUsage] = field(default_factory=list)
    prices: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    geo_multiplier: dict[str, Decimal] = field(default_factory=lambda: {"us": Decimal("1.1")})
    batch_discount: str = "in_amount"
    amount_unit: str = "cents"
    batch_day: str = "processed"
    non_admin_status: int = 403
    max_page: int | None = None
    refreshed_at: datetime | None = None
    now: datetime | None = None  # the server's clock for the 365-day rule (default: real time)
    queries: list[dict] = field(default_factory=list)

    # -- the endpoints ---------------------------------------------------------------------
    def route(self, path: str, query: dict[str, list[str]], headers: Any) -> Reply:
        refused = self._refused(headers)
        if refused is not None:
            return refused
        usage = path == USAGE_PATH
        params, problem = parse_query(query, UsageListParams if usage else CostListParams)
        if problem is None:
            problem = self._range_problem(params) or _group_problem(params)
        if problem is not None:
            return _error(400, problem)
        self.queries.append({"path": path, **params})
        combos = self._combos(params, usage)
        return self._page(combos, params, usage)

    def _refused(self, headers: Any) -> Reply | None:
        bearer = headers.get("authorization", "")
        key = (bearer[7:] if bearer.startswith("Bearer ") else headers.get("x-api-key", "")).strip()
        if not key.startswith("sk-ant-admin"):
            if self.non_admin_status == 401:
                return _error(401, "invalid x-api-key")
            return _error(403, "This endpoint requires an Admin API key (sk-ant-admin...); the key given is a "
                               "standard API key")
        if BETA not in [b.strip() for b in headers.get("anthropic-beta", "").split(",")]:
            return _error(400, f"this endpoint is in beta: send the anthropic-beta header {BETA}")
        return None

    def _range_problem(self, params: dict) -> str | None:
        start = _time(params.get("starting_at"))
        if start is None:
            return "starting_at: must be an RFC 3339 date-time with a time zone"
        now = self.now or datetime.now(timezone.utc)
        if start < EARLIEST:
            return "starting_at: must be no earlier than 2026-01-01T00:00:00Z"
        if start < now - timedelta(days=365):
            return "starting_at: must be within the last 365 days"
        if params.get("time_bucket_width") not in (None, "1d"):
            return "time_bucket_width: this fake server serves 1d buckets only"
        if params.get("time_bucket_width") and "ending_at" not in params:
            return "ending_at: is required when time_bucket_width is set"
        end = _time(params.get("ending_at")) if "ending_at" in params else min(now, start + MAX_SPAN)
        if end is None or end <= start:
            return "ending_at: must be an RFC 3339 date-time with a time zone, after starting_at"
        if end - start > MAX_SPAN:
            return "ending_at: the range may span at most 31 days"
        if not 1 <= int(params.get("limit", 20)) <= 1000:
            return "limit: must be between 1 and 1000"
        params["_start"], params["_end"] = start, end
        return None

    # -- the numbers -----------------------------------------------------------------------
    def _day_of(self, r: BilledUsage) -> datetime:
        when = {"created": r.batch_created_at, "ended": r.batch_ended_at}.get(self.batch_day) or r.at
        return when.astimezone(timezone.utc)

    def _matches(self, r: BilledUsage, params: dict) -> bool:
        if not params["_start"] <= self._day_of(r) < params["_end"]:
            return False
        for name, attr in FILTERS.items():
            wanted = params.get(name)
            value = getattr(r, attr)
            if name == "inference_geos" and value is None:
                value = "not_available"
            if wanted and value not in wanted:
                return False
        return True

    def _bucket(self, r: BilledUsage, params: dict) -> tuple[datetime, datetime]:
        if not params.get("time_bucket_width"):
            return params["_start"].replace(minute=0, second=0, microsecond=0), params["_end"]
        day = self._day_of(r).replace(hour=0, minute=0, second=0, microsecond=0)
        return day, day + timedelta(days=1)

    def _combos(self, params: dict, usage: bool) -> list[dict]:
        """One entry per bucket and combination of the group_by dimensions (cost_type and
        token_type apart: they fan out inside an entry)."""
        dims = [g for g in params.get("group_by", []) if g not in FANOUT]
        combos: dict[tuple, dict] = {}
        for r in self.records:
            if not self._matches(r, params):
                continue
            bucket = self._bucket(r, params)
            group = {d: _group_value(r, d) for d in dims}
            key = (bucket, tuple(sorted(group.items(), key=lambda kv: kv[0])))
            entry = combos.setdefault(key, {"bucket": bucket, "group": group, "records": []})
            entry["records"].append(r)
        out = list(combos.values())
        for entry in out:
            entry["amount"] = sum((self._cost(r)[0] for r in entry["records"]), Decimal(0))
        by_time = params.get("order_by") == "time" and params.get("time_bucket_width")
        descending = params.get("order", "desc") == "desc"
        if usage:
            out.sort(key=lambda e: -_total_tokens(e["records"]))
        else:
            out.sort(key=lambda e: -e["amount"])
        if by_time:  # by bucket, and within one by the metric, highest first (stable sort)
            out.sort(key=lambda e: e["bucket"][0], reverse=descending)
        return out

    def _token_cost(self, r: BilledUsage, token_type: str) -> tuple[Decimal, Decimal]:
        """(amount, list_amount) in US dollars of one record's tokens of one type."""
        tokens = getattr(r, TOKEN_FIELDS[token_type])
        if not tokens:
            return Decimal(0), Decimal(0)
        standard = Decimal(tokens) * self._rate(r, token_type) / MILLION
        return self._discounted(r, standard)

    def _search_cost(self, r: BilledUsage) -> tuple[Decimal, Decimal]:
        if not r.web_search_requests:
            return Decimal(0), Decimal(0)
        standard = Decimal(r.web_search_requests) * self._rate(r, "web_search") / 1000
        return standard, standard  # searches: no batch discount assumed (as cachecast's correction row)

    def _rate(self, r: BilledUsage, kind: str) -> Decimal:
        return Decimal(r.rates[kind] if kind in r.rates else self.prices[r.model][kind])

    def _discounted(self, r: BilledUsage, standard: Decimal) -> tuple[Decimal, Decimal]:
        value = standard * self.geo_multiplier.get(r.inference_geo or "", Decimal(1))
        if r.service_tier != "batch" or self.batch_discount == "none":
            return value, value
        half = value / 2
        return (half, value) if self.batch_discount == "in_amount" else (half, half)

    def _cost(self, r: BilledUsage) -> tuple[Decimal, Decimal]:
        parts = [self._token_cost(r, t) for t in TOKEN_TYPES] + [self._search_cost(r)]
        return sum((p[0] for p in parts), Decimal(0)), sum((p[1] for p in parts), Decimal(0))

    # -- the page --------------------------------------------------------------------------
    def _page(self, combos: list[dict], params: dict, usage: bool) -> Reply:
        limit = int(params.get("limit", 20))
        size = min(limit, self.max_page or limit)
        fingerprint = _fingerprint(params)
        offset = 0
        if params.get("page"):
            offset = _cursor_offset(params["page"], fingerprint)
            if offset is None:
                return _error(400, "page: not a cursor of this query")
        chunk = combos[offset:offset + size]
        rows = [row for entry in chunk for row in (self._usage_rows(entry) if usage else self._cost_rows(entry, params))]
        more = offset + size < len(combos)
        cursor = _cursor(offset + size, fingerprint) if more else None
        refreshed = self.refreshed_at or self.now or datetime.now(timezone.utc)
        return 200, {"data": rows, "has_more": more, "next_page": cursor, "data_refreshed_at": _iso(refreshed)}

    def _cost_rows(self, entry: dict, params: dict) -> list[dict]:
        groups = params.get("group_by", [])
        records = entry["records"]
        by_type, by_cost = "token_type" in groups, "cost_type" in groups
        parts: list[tuple[str | None, str | None, Decimal, Decimal]] = []
        if by_type:
            for t in TOKEN_TYPES:
                cost = [self._token_cost(r, t) for r in records if getattr(r, TOKEN_FIELDS[t])]
                if cost:
                    parts.append(("tokens", t, sum(c[0] for c in cost), sum(c[1] for c in cost)))
        elif by_cost:
            cost = [self._token_cost(r, t) for r in records for t in TOKEN_TYPES]
            parts.append(("tokens", None, sum(c[0] for c in cost), sum(c[1] for c in cost)))
        if by_cost:  # token_type alone returns token rows only; with cost_type, the other cost types too
            search = [self._search_cost(r) for r in records if r.web_search_requests]
            if search:
                parts.append(("web_search", None, sum(c[0] for c in search), sum(c[1] for c in search)))
        if not (by_type or by_cost):
            total = [self._cost(r) for r in records]
            parts.append((None, None, sum(c[0] for c in total), sum(c[1] for c in total)))
        requests = None if (by_type or by_cost) else sum(r.requests for r in records)
        return [{"starting_at": _iso(entry["bucket"][0]), "ending_at": _iso(entry["bucket"][1]),
                 "group": _group(BetaAnalyticsCostGroup, entry["group"], cost_type=ct, token_type=tt),
                 "cost": {"amount": self._text(amount), "currency": "USD", "list_amount": self._text(listed),
                          "requests": requests}}
                for ct, tt, amount, listed in parts]

    def _usage_rows(self, entry: dict) -> list[dict]:
        rs = entry["records"]
        total = {attr: sum(getattr(r, attr) for r in rs) for attr in TOKEN_FIELDS.values()}
        return [{"starting_at": _iso(entry["bucket"][0]), "ending_at": _iso(entry["bucket"][1]),
                 "group": _group(BetaAnalyticsUsageGroup, entry["group"]),
                 "usage": {"cache_creation": {"ephemeral_1h_input_tokens": total["cache_write_1h"],
                                              "ephemeral_5m_input_tokens": total["cache_write_5m"]},
                           "cache_read_input_tokens": total["cache_read"], "output_tokens": total["output_tokens"],
                           "requests": sum(r.requests for r in rs),
                           "server_tool_use": {"web_search_requests": sum(r.web_search_requests for r in rs)},
                           "total_tokens": sum(total.values()), "uncached_input_tokens": total["uncached_input_tokens"]}}]

    def _text(self, usd: Decimal) -> str:
        """A decimal string in the report's unit (fractional cents by default)."""
        value = usd * 100 if self.amount_unit == "cents" else usd
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text


# ------------------------------------------------------------------ helpers


def _list_params(td: Any) -> set[str]:
    hints = get_type_hints(td)
    return {name for name, hint in hints.items() if "List" in str(hint) or "Sequence" in str(hint)}


def parse_query(query: dict[str, list[str]], td: Any) -> tuple[dict, str | None]:
    """The query string as the TypedDict's values (lists from name[]), and the first problem
    the SDK's own types find in it (an unknown parameter, a value not in a Literal)."""
    lists = _list_params(td) - {"betas"}
    params: dict[str, Any] = {}
    for raw, values in query.items():
        name = raw[:-2] if raw.endswith("[]") else raw
        if name in lists:
            params[name] = list(values)
        elif name == "limit":
            try:
                params[name] = int(values[-1])
            except ValueError:
                return params, "limit: Input should be a valid integer, unable to parse string as an integer"
        elif name == "exclude_deleted_users":
            params[name] = values[-1] == "true"
        else:
            params[name] = values[-1]
    if "betas" in params:
        return params, "betas: Extra inputs are not permitted"
    problems = sdk_types.validate(params, td)
    return params, ("; ".join(problems) if problems else None)


def _group_problem(params: dict) -> str | None:
    dims = [g for g in params.get("group_by", []) if g not in FANOUT]
    if len(dims) > 5:
        return f"group_by: at most 5 dimensions besides cost_type and token_type, got {len(dims)}"
    return None


def _group_value(r: BilledUsage, dim: str) -> Any:
    if dim == "inference_geo":
        return r.inference_geo  # null: the region is not set
    return getattr(r, dim, None)


def _group(model: Any, values: dict, **extra: Any) -> dict:
    """Every field of the SDK's group type: the grouped dimensions' values, null elsewhere."""
    out = {name: None for name in model.model_fields}
    out.update({k: v for k, v in values.items() if k in out})
    out.update({k: v for k, v in extra.items() if k in out})
    return out


def _total_tokens(records: list[BilledUsage]) -> int:
    return sum(getattr(r, attr) for r in records for attr in TOKEN_FIELDS.values())


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _fingerprint(params: dict) -> str:
    shown = {k: v for k, v in params.items() if k != "page" and not k.startswith("_")}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cursor(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": fingerprint}).encode()).decode()


def _cursor_offset(cursor: str, fingerprint: str) -> int | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("q") != fingerprint or not isinstance(data.get("o"), int):
        return None
    return data["o"]


def _error(status: int, message: str) -> Reply:
    kinds = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
    return status, {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}
