"""Shared pytest fixtures. Each helper's fixtures live in their own clearly marked section;
append yours below, do not edit others' sections."""
from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# fake Anthropic API server (owner: api/sim helper, issue 5). See tests/fakeapi.py.
#   fake_api.url       base URL (http://127.0.0.1:PORT)
#   fake_api.calls     list of (method, path) the server received, in order
#   fake_api.faults    injectable faults: .rate_limit(n), .server_error(n), .unauthorized(),
#                      .fail(status, n, path=..., method=...), .in_progress_polls = K,
#                      .errored = n, .expired = n (for batches created afterwards),
#                      .cut_results_after = n (next results download drops after n lines)
#   fake_api.chars_per_token  count_tokens = ceil(chars of all text / this), default 4.0
#   fake_api.client(max_retries=2)  an anthropic.Anthropic(api_key="test-key", base_url=url)
#   As strict as the real API (issue 10): Bearer auth and anthropic-version required; batch
#   params validated after create from the SDK's own TypedDicts and the model table (invalid
#   requests become errored lines); fake_api.archive(id) nulls results_url; max_body_bytes
#   (default 256,000,000) answers 413; POST /v1/messages validates synchronously and takes
#   max_tokens 0 (pre-warming; fake_api.messages records model/max_tokens); GET /v1/models.
#   Issue 20: every request rule is one registry (tests/fakeapi_rules.py; sources in
#   tests/test_fakeapi_rules.py); results shuffled by default (FakeAnthropic(results_order=
#   "request", seed=N)); cancel keeps started requests; anthropic-beta read (fake_api.betas_seen);
#   x-api-key or Bearer; rate-limit headers; FakeAnthropic(modes=Modes(...), extra_models=[...]);
#   fake_api.add_route(method, regex, handler) mounts more endpoints (e.g. analytics).
# ---------------------------------------------------------------------------------------------
import pytest

from fakeapi import FakeAnthropic


@pytest.fixture
def fake_api():
    server = FakeAnthropic().start()
    try:
        yield server
    finally:
        server.stop()
# ---------------------------------------------------------------------------------------------
# end of fake Anthropic API section
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# foundation fixtures (owner: foundation helper, issue 2). See tests/_fixtures.py.
#   project       a temp run dir: system.md (~1,500 tokens), user.txt, concise.md, verify.md,
#                 items.jsonl (3 items); project.config({...changes}) writes cfg.yaml,
#                 project.load({...}) returns the RunConfig
#   pilot_build   the shipped pilot config built once per session (read-only)
# ---------------------------------------------------------------------------------------------
from _fixtures import pilot_build, project  # noqa: E402,F401
# ---------------------------------------------------------------------------------------------
# end of foundation section
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# reliability fixtures (owner: reliability helper, issue 7).
#   store_template   path of an empty, migrated DuckDB store made once per session (read-only);
#                    copy it for a fresh store without paying for the schema each time
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def store_template(tmp_path_factory):
    from cachecast import store

    path = tmp_path_factory.mktemp("store-template") / "empty.duckdb"
    store.connect(path).close()
    return path
# ---------------------------------------------------------------------------------------------
# end of reliability section
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# model roles (issue 21). See tests/roles.py: each role is derived from the dated model table on
# roles.TEST_DAY, so a retirement or a new default moves it there, not in every test.
#   current_model      the table's default role (active; the shipped configs' model)
#   retired_model      the most recently retired model (requests fail, results still priced)
#   deprecated_model   a deprecated model inside its notice (callable, with a warning)
# ---------------------------------------------------------------------------------------------
import roles  # noqa: E402


@pytest.fixture
def current_model() -> str:
    return roles.default()


@pytest.fixture
def retired_model() -> str:
    return roles.retired()


@pytest.fixture
def deprecated_model() -> str:
    return roles.deprecated()
# ---------------------------------------------------------------------------------------------
# end of model roles section
# ---------------------------------------------------------------------------------------------


# --- isolation (lead) -------------------------------------------------------------------------
# No test may write the developer's store under data/ or reach the real API with a key that
# happens to be set in the shell: each test starts with its own store path and no key.


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("CACHECAST_DB", str(tmp_path_factory.mktemp("store") / "cachecast.duckdb"))
    # model facts: the shipped table only (no developer's Models API refresh), on a fixed date,
    # so lifecycle checks (a model retired last week) do not drift with the calendar; the model
    # roles (tests/roles.py) are read on the same date
    monkeypatch.setenv("CACHECAST_MODELS_FILE", str(tmp_path_factory.mktemp("models") / "models.json"))
    monkeypatch.setenv("CACHECAST_TODAY", roles.TEST_DAY.isoformat())
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)

# ---------------------------------------------------------------------------------------------
# organization cost and usage reports (owner: bill-reconcile helper, issue 19). See
# tests/fakeapi_analytics.py; the fake_api fixture above serves them:
#   fake_api.analytics.records   the bill: BilledUsage slices (when, model, tokens, tier, key, ...)
#   fake_api.analytics.prices    {model: {token_type: standard $/MTok, "web_search": $/1k}}
#   fake_api.analytics.batch_discount / amount_unit / batch_day / non_admin_status   undocumented
#                                semantics, either way; .max_page caps rows per page; .queries
#                                records every accepted query; an Admin key is sk-ant-admin...

# ---------------------------------------------------------------------------------------------
# the checkout stays clean (owner: notebooks/reports helper, issue 23).
# No test may write a store into the checkout's data/: `cachecast report project` with a key
# set once remembered its exact counts in data/cachecast.duckdb of the repository. The
# session fails at its end when a .duckdb file under data/ appeared, changed or vanished.
# ---------------------------------------------------------------------------------------------
from pathlib import Path as _Path  # noqa: E402

_DATA = _Path(__file__).resolve().parents[1] / "data"


def _stores_in_data() -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in _DATA.glob("*.duckdb*") if p.is_file()}


@pytest.fixture(scope="session", autouse=True)
def _checkout_data_untouched(tmp_path_factory):
    """Also points CACHECAST_DB at a temporary store for the whole session: the per-test
    setting above is not there yet while a module- or session-scoped fixture runs (the full
    run of test_report_safety made its report with a key set, and the counts went to data/)."""
    before = _stores_in_data()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CACHECAST_DB", str(tmp_path_factory.mktemp("session-store") / "cachecast.duckdb"))
        yield
    after = _stores_in_data()
    if after != before:
        changed = sorted(set(before) ^ set(after) | {k for k in before if k in after and before[k] != after[k]})
        pytest.fail(f"a test wrote into the checkout's data/ ({', '.join(changed)}); tests must use a temporary "
                    "store (CACHECAST_DB is set to one for every test)", pytrace=False)
# ---------------------------------------------------------------------------------------------
# end of checkout section
# ---------------------------------------------------------------------------------------------
