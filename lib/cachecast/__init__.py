"""cachecast: budget and verify Anthropic prompt caching for batch evaluations.

The library is grouped by pipeline stage, bottom to top (docs/architecture.md):
facts (dated model facts and prices), store (DuckDB, ingest), build (config -> request
files, lint), send (the SDK, probe, simulator), tokens (counts), plan (projection, gate),
analyse (audit, ledger), report (notebooks, charts) and cli.

Notebooks and users import from this module only: the names below are the public surface,
loaded on first use so that `import cachecast` (and every CLI start) stays light."""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module" or "module:attribute"
_PUBLIC = {
    "audit": "cachecast.analyse.audit",
    "ledger": "cachecast.analyse.ledger",
    "reconciliation": "cachecast.analyse.reconcile_store",
    "audit_view": "cachecast.report.audit_view",
    "display": "cachecast.report.display",
    "provenance": "cachecast.report.provenance",
    "projection_report": "cachecast.report.projection_report",
    "projection_charts": "cachecast.report.charts.projection",
    "audit_charts": "cachecast.report.charts.audit",
    "ledger_charts": "cachecast.report.charts.ledger",
    "reconcile_charts": "cachecast.report.charts.reconcile",
    "show": "cachecast.report.charts:show",
    "resolve_path": "cachecast.report.projection_report:resolve_path",
    "hit_rate_table": "cachecast.send.sim:hit_rate_table",
}
__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    target = _PUBLIC.get(name)
    if target is None:
        raise AttributeError(f"module 'cachecast' has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    value = importlib.import_module(module)
    value = getattr(value, attribute) if attribute else value
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
