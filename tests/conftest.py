"""Shared pytest fixtures. Each helper's fixtures live in their own clearly marked section;
append yours below, do not edit others' sections."""
from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# fake Anthropic API server (owner: api/sim helper, issue 5). See tests/fakeapi.py.
#   fake_api.url       base URL (http://127.0.0.1:PORT)
#   fake_api.calls     list of (method, path) the server received, in order
#   fake_api.faults    injectable faults: .rate_limit(n), .server_error(n), .unauthorized(),
#                      .fail(status, n, path=..., method=...), .in_progress_polls = K,
#                      .errored = n, .expired = n (for batches created afterwards)
#   fake_api.client(max_retries=2)  an anthropic.Anthropic(api_key="test-key", base_url=url)
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
