"""Anthropic's organization cost and usage reports through the SDK, for `cachecast reconcile`.

Which endpoints, and why: `client.beta.organization.analytics.cost.list` and `.usage.list`
(GET /v1/organizations/analytics/cost and /usage; the SDK sends their beta header,
analytics-usage-cost-2026-08-24). The SDK marks `cost_report` and `usage_report` beside them
as the legacy Claude Enterprise reports: they take an Analytics API key with the
read:analytics scope (an Admin API key cannot call them, per Anthropic's analytics-api page),
their product filter names no API surface, and they have no service tier, API key or
workspace dimension. The newer two "include all cost", accept an Admin API key, and filter
and group by API key, workspace, service tier and product (messages_api,
message_batches_api): what a batch evaluation needs to be reconciled exactly.

What the SDK 2.16 types say (types/beta/organization/analytics/cost_list_params.py,
usage_list_params.py, beta_analytics_cost_item.py, beta_analytics_cost_metrics.py):
- starting_at is RFC 3339, within the last 365 days and no earlier than 2026-01-01T00:00Z;
  a range spans at most 31 days (longer ranges are split here); ending_at is required with
  time_bucket_width (1d here: one row per UTC day and group);
- group_by takes at most 5 dimensions not counting cost_type and token_type; every
  combination comes back across pages (limit 1-1000 rows; cost_type/token_type fan-out rows
  do not count toward it); `next_page` / `has_more` page on;
- amount ("post-discount, pre-credit") and list_amount ("pre-discount") are decimal strings
  "in fractional cents (minor units)"; currency is "currently always USD".

Not documented, so a choice here, said in docs/reconcile.md, and a mode of the local test
server (tests/fakeapi_analytics.py) so both ways are tested:
- the amount unit: cents, as the SDK says (--amount-unit dollars reads them as dollars);
- whether batch usage's `amount` carries the Batches API's 50% (we compare `amount` and keep
  `list_amount`; the reconciler names a factor of 2 "the batch discount");
- which day a batch's cost lands on (the reconciler's --batch-day, and its neighbour-day
  heuristic).
Money stays Decimal (US dollars) from the string to the store.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator

from ..errors import ApiError, InputError, redact

EARLIEST = date(2026, 1, 1)  # cost_list_params.starting_at: "no earlier than 2026-01-01T00:00:00Z"
LOOKBACK_DAYS = 365  # "... within the last 365 days"
MAX_SPAN_DAYS = 31  # ending_at: "The range may span at most 31 days"
PAGE_LIMIT = 1000  # limit: "Number of rows per page (1-1000, default 20)"
# model, tier, context window, geo, speed: 5 dimensions, the most group_by takes besides cost_type/token_type
USAGE_GROUPS = ("model", "service_tier", "context_window", "inference_geo", "speed")
COST_GROUPS = USAGE_GROUPS + ("cost_type", "token_type")
AMOUNT_UNITS = {"cents": Decimal(100), "dollars": Decimal(1)}


@dataclass(frozen=True)
class Filters:
    """The report's own filters (its parameter names); empty: the whole organization."""

    models: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    speeds: tuple[str, ...] = ()
    inference_geos: tuple[str, ...] = ()
    service_tiers: tuple[str, ...] = ()
    api_key_ids: tuple[str, ...] = ()
    workspace_ids: tuple[str, ...] = ()
    actor_ids: tuple[str, ...] = ()  # user_..., svac_... (service account) or apikey_... identities
    user_profile_ids: tuple[str, ...] = ()
    rbac_group_ids: tuple[str, ...] = ()

    def params(self) -> dict[str, list[str]]:
        return {f.name: list(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)}

    def describe(self) -> str:
        given = self.params()
        if not given:
            return "none (the whole organization)"
        return "; ".join(f"{name}={','.join(values)}" for name, values in given.items())

    @property
    def identity(self) -> bool:
        """Filtered to an identity that can be the evaluation's own (key, workspace, actor, group)."""
        return bool(self.api_key_ids or self.workspace_ids or self.actor_ids or self.user_profile_ids
                    or self.rbac_group_ids)


def check_filters(filters: Filters) -> Filters:
    """Values the SDK's own Literal types allow (products, speeds, geos, service tiers), checked
    before any call: a typo would otherwise be the API's 400 or, worse, a filter matching nothing."""
    from typing import get_type_hints

    from anthropic.types.beta.organization.analytics import CostListParams

    hints = get_type_hints(CostListParams)
    for name in ("products", "speeds", "inference_geos", "service_tiers"):
        allowed = _literal_values(hints[name])
        for value in getattr(filters, name):
            if value not in allowed:
                raise InputError(f"{name[:-1].replace('_', ' ')} {value!r} is not one the cost report knows "
                                 f"({', '.join(sorted(allowed))})")
    return filters


def _literal_values(hint: Any) -> set[str]:
    """Every string literal inside a type hint (Optional[List[Literal[...]]] and the like)."""
    from typing import Literal, get_args, get_origin

    if get_origin(hint) is Literal:
        return {v for v in get_args(hint) if isinstance(v, str)}
    out: set[str] = set()
    for arg in get_args(hint):
        out |= _literal_values(arg)
    return out


@dataclass(frozen=True)
class CostRow:
    """One row of the cost report: a day, its group and its amounts in US dollars."""

    day: date
    model: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None
    speed: str | None
    cost_type: str | None
    token_type: str | None
    amount: Decimal
    list_amount: Decimal


@dataclass(frozen=True)
class UsageRow:
    """One row of the usage report: a day, its group and its token counts."""

    day: date
    model: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None
    speed: str | None
    uncached_input: int
    write_5m: int
    write_1h: int
    read: int
    output: int
    web_searches: int
    requests: int | None


@dataclass
class Report:
    """What the two reports said for a range, and how it was fetched."""

    costs: list[CostRow] = field(default_factory=list)
    usage: list[UsageRow] = field(default_factory=list)
    refreshed_at: datetime | None = None  # the oldest data_refreshed_at of any page
    windows: list[tuple[date, date]] = field(default_factory=list)  # [start, end) of each call range
    pages: int = 0


# ------------------------------------------------------------------ the range


def utc_today() -> date:
    """The report's clock: days are UTC (CACHECAST_TODAY is for model lifecycles, not this)."""
    return datetime.now(timezone.utc).date()


def check_range(since: date, until: date, today: date) -> None:
    """The API's own limits, checked before any call: one sentence each."""
    if until < since:
        raise InputError(f"--until {until} is before --since {since}")
    if since < EARLIEST:
        raise InputError(f"--since {since} is before {EARLIEST}, the earliest day Anthropic's cost report covers; "
                         f"reconcile from {EARLIEST} on")
    oldest = today - timedelta(days=LOOKBACK_DAYS)
    if since < oldest:
        raise InputError(f"--since {since} is more than {LOOKBACK_DAYS} days ago; the cost report covers the last "
                         f"{LOOKBACK_DAYS} days only (from {oldest})")
    if until > today:
        raise InputError(f"--until {until} is after today ({today}, UTC): the report has no data for it yet")


def windows(since: date, until: date) -> list[tuple[date, date]]:
    """[start, end) day ranges of at most MAX_SPAN_DAYS covering since..until (inclusive)."""
    out, start, end = [], since, until + timedelta(days=1)
    while start < end:
        stop = min(start + timedelta(days=MAX_SPAN_DAYS), end)
        out.append((start, stop))
        start = stop
    return out


def _rfc3339(day: date) -> str:
    return datetime.combine(day, time(0), tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")


def _ending_at(stop: date, now: datetime) -> str:
    """The window's end: the next midnight UTC, or (for a window reaching today) the last whole
    hour: the report has nothing later, and how it treats a future ending_at is not documented."""
    end = datetime.combine(stop, time(0), tzinfo=timezone.utc)
    hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return min(end, hour).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------ fetching


def fetch(client: Any, since: date, until: date, filters: Filters, *, amount_unit: str = "cents",
          now: datetime | None = None) -> Report:
    """Both reports for since..until (inclusive), by day, every page of every window."""
    from .api import pages

    if amount_unit not in AMOUNT_UNITS:
        raise InputError(f"--amount-unit {amount_unit!r} is not one of {', '.join(AMOUNT_UNITS)}")
    now = now or datetime.now(timezone.utc)
    report = Report(windows=windows(since, until))
    analytics = client.beta.organization.analytics
    for start, stop in report.windows:
        ending = _ending_at(stop, now)
        if ending <= _rfc3339(start):
            continue  # a window of today only, before its first whole hour: nothing to ask for yet
        common = dict(starting_at=_rfc3339(start), ending_at=ending, time_bucket_width="1d", limit=PAGE_LIMIT,
                      order_by="time", order="asc", **filters.params())
        # api.pages: one deadline for a window's pages, at most api.MAX_PAGES of them (issue 22)
        with report_errors("reading Anthropic's cost report"):
            for page in pages(client, lambda: analytics.cost.list(group_by=list(COST_GROUPS), **common),
                              "the cost report"):
                _note_page(report, page)
                report.costs.extend(cost_row(item, amount_unit) for item in page.data)
        with report_errors("reading Anthropic's usage report"):
            for page in pages(client, lambda: analytics.usage.list(group_by=list(USAGE_GROUPS), **common),
                              "the usage report"):
                _note_page(report, page)
                report.usage.extend(usage_row(item) for item in page.data)
    return report


def _note_page(report: Report, page: Any) -> None:
    report.pages += 1
    refreshed = getattr(page, "data_refreshed_at", None)
    if refreshed is not None and (report.refreshed_at is None or refreshed < report.refreshed_at):
        report.refreshed_at = refreshed


def _day(value: datetime) -> date:
    return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()


def cost_row(item: Any, unit: str = "cents") -> CostRow:
    g, c = item.group, item.cost
    if c.currency != "USD":
        raise ApiError(f"the cost report is in {redact(str(c.currency))[:12]}; cachecast reconciles US dollars only")
    return CostRow(day=_day(item.starting_at), model=g.model, service_tier=g.service_tier,
                   context_window=g.context_window, inference_geo=g.inference_geo, speed=g.speed,
                   cost_type=g.cost_type, token_type=g.token_type, amount=amount_usd(c.amount, unit),
                   list_amount=amount_usd(c.list_amount, unit))


def usage_row(item: Any) -> UsageRow:
    g, u = item.group, item.usage
    return UsageRow(day=_day(item.starting_at), model=g.model, service_tier=g.service_tier,
                    context_window=g.context_window, inference_geo=g.inference_geo, speed=g.speed,
                    uncached_input=int(u.uncached_input_tokens),
                    write_5m=int(u.cache_creation.ephemeral_5m_input_tokens),
                    write_1h=int(u.cache_creation.ephemeral_1h_input_tokens), read=int(u.cache_read_input_tokens),
                    output=int(u.output_tokens), web_searches=int(u.server_tool_use.web_search_requests),
                    requests=None if u.requests is None else int(u.requests))


def amount_usd(text: Any, unit: str = "cents") -> Decimal:
    """A report amount (a decimal string in `unit`) in US dollars, exact."""
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        value = Decimal("NaN")
    if not value.is_finite():
        raise ApiError(f"the cost report sent the amount {redact(str(text))[:40]!r}, which is not a decimal number")
    return value / AMOUNT_UNITS[unit]


@contextlib.contextmanager
def report_errors(action: str) -> Iterator[None]:
    """The SDK's errors in one sentence: a refused key names ANTHROPIC_ADMIN_KEY and what kind
    of key the report needs; the rest as every other API command says them (api_errors)."""
    import anthropic

    from .api import _message, api_errors

    with api_errors(action, "nothing was compared or saved"):
        try:
            yield
        except anthropic.AuthenticationError:
            raise ApiError(f"{action}: the API refused the key in ANTHROPIC_ADMIN_KEY (401); check that it is a "
                           "valid Admin API key (sk-ant-admin...) of this organization") from None
        except anthropic.PermissionDeniedError as exc:
            raise ApiError(f"{action}: the API refused the key in ANTHROPIC_ADMIN_KEY (403 permission denied: "
                           f"{_message(exc)}); the cost and usage reports need an Admin API key (sk-ant-admin..., "
                           "made by an organization admin), not a standard API key") from None
        except anthropic.BadRequestError as exc:
            raise ApiError(f"{action}: the API rejected the report request (400): {_message(exc)}") from None
