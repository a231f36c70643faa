"""Pricing: rates from genai-prices' bundled snapshot, overrides, and exact usage costs.

Every expected number is worked out by hand in a comment. The ids are the models whose
published rates (genai-prices on DAY, the correction layer) those numbers are worked from, and
whose override rows the files below name: they are the facts under test, so no role stands in."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from cachecast.errors import PriceError
from cachecast.facts.costs import usage_cost
from cachecast.facts.pricing import get_rates

D = Decimal
DAY = date(2026, 11, 20)  # pinned so the test does not drift with dated prices


def test_sonnet_45_batch_rates_are_halved_standard_rates():
    # Standard Sonnet 4.5: 3 / 3.75 / 6 / 0.30 / 15 per MTok; Batch API halves all of them:
    # 1.5 / 1.875 / 3 / 0.15 / 7.5
    r = get_rates("claude-sonnet-4-5", batch=True, at=DAY)
    assert (r.input, r.write_5m, r.write_1h, r.read, r.output) == (D("1.5"), D("1.875"), D("3"), D("0.15"), D("7.5"))
    s = get_rates("claude-sonnet-4-5", batch=False, at=DAY)
    assert (s.input, s.write_5m, s.write_1h, s.read, s.output) == (D("3"), D("3.75"), D("6"), D("0.3"), D("15"))
    assert r.batch and not s.batch
    assert r.source.startswith("genai-prices ") and "2026-11-20" in r.source


def test_dated_model_id_and_long_context_tier():
    r = get_rates("claude-sonnet-4-5-20250929", batch=False, at=DAY)
    assert r.long_context_threshold == 200_000
    # above 200K the standard tier is 6 / 7.5 / 12 / 0.6 / 22.5
    assert (r.lc_input, r.lc_write_5m, r.lc_write_1h, r.lc_read, r.lc_output) == (
        D("6"), D("7.5"), D("12"), D("0.6"), D("22.5"))


def test_usage_cost_hand_worked_batch():
    r = get_rates("claude-sonnet-4-5", batch=True, at=DAY)
    # input 350 x 1.5 = 525; 5m write 1400 x 1.875 = 2625; 1h write 0; read 0;
    # output 600 x 7.5 = 4500; sum 7650 / 1e6 = $0.00765
    assert usage_cost(r, input_tokens=350, write_5m=1400, write_1h=0, read=0, output=600) == D("0.00765")
    # hit: read 1400 x 0.15 = 210; + 525 + 4500 = 5235 -> $0.005235
    assert usage_cost(r, input_tokens=350, write_5m=0, write_1h=0, read=1400, output=600) == D("0.005235")
    # 1h write 1400 x 3 = 4200; + 525 + 4500 = 9225 -> $0.009225
    assert usage_cost(r, input_tokens=350, write_5m=0, write_1h=1400, read=0, output=600) == D("0.009225")


def test_long_context_cliff_reprices_every_token():
    r = get_rates("claude-sonnet-4-5", batch=False, at=DAY)
    # total prompt 1,000 + 199,000 read = 200,000: not above 200K -> base tier:
    # 1000 x 3 = 3000; 199000 x 0.3 = 59700; 100 x 15 = 1500 -> 64200 / 1e6 = $0.0642
    assert usage_cost(r, input_tokens=1000, write_5m=0, write_1h=0, read=199_000, output=100) == D("0.0642")
    # one more input token: 200,001 > 200K -> every token at 6 / 0.6 / 22.5:
    # 1001 x 6 = 6006; 199000 x 0.6 = 119400; 100 x 22.5 = 2250 -> 127656 / 1e6
    assert usage_cost(r, input_tokens=1001, write_5m=0, write_1h=0, read=199_000, output=100) == D("0.127656")


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("usage", [
    dict(input_tokens=350, write_5m=1400, write_1h=0, read=0, output=600),
    dict(input_tokens=350, write_5m=0, write_1h=1400, read=0, output=600),
    dict(input_tokens=12, write_5m=300, write_1h=2100, read=90_000, output=4096),
    dict(input_tokens=150_000, write_5m=0, write_1h=40_000, read=30_000, output=2000),  # long context
])
def test_library_agrees_with_genai_calc_price_to_the_cent(batch, usage):
    r = get_rates("claude-sonnet-4-5", batch=batch, at=DAY)
    ours = usage_cost(r, **usage)
    total_prompt = usage["input_tokens"] + usage["write_5m"] + usage["write_1h"] + usage["read"]
    theirs = calc_price(
        Usage(input_tokens=total_prompt,                              # genai: TOTAL prompt
              cache_write_tokens=usage["write_5m"] + usage["write_1h"],  # genai: includes 1h writes
              cache_write_1h_tokens=usage["write_1h"],
              cache_read_tokens=usage["read"], output_tokens=usage["output"]),
        "claude-sonnet-4-5", provider_id="anthropic",
        price_context={"processing": "batch"} if batch else None,
    ).total_price
    assert round(ours, 2) == round(theirs, 2)
    assert ours == theirs  # in fact exactly equal


def test_models_with_other_read_multiplier_are_not_assumed_0_1x():
    r = get_rates("claude-fable-5-1", batch=False, at=DAY)
    # Fable 5.1: input 10, read 0.25 -> 0.025x, not 0.1x
    assert r.read / r.input == D("0.025")


def test_unknown_model_names_it_and_suggests_close_ones():
    with pytest.raises(PriceError) as exc:
        get_rates("claude-sonet-4-5", batch=True, at=DAY)
    msg = str(exc.value)
    assert "'claude-sonet-4-5'" in msg and "claude-sonnet-4-5" in msg


def test_no_batch_variant_is_priced_at_half_of_standard_not_refused():
    # Changed by issue 11: Opus 4.0 has no batch variant in genai-prices 0.2.3, and this used
    # to be a PriceError. Anthropic bills Message Batches at 50% of standard for every model,
    # so the correction row batch-50pct prices it. Standard 15 / 18.75 / 30 / 1.50 / 75 ->
    # batch 7.5 / 9.375 / 15 / 0.75 / 37.5, never the full standard rates.
    r = get_rates("claude-opus-4-0", batch=True, at=DAY)
    assert (r.input, r.write_5m, r.write_1h, r.read, r.output) == (D("7.5"), D("9.375"), D("15"), D("0.75"), D("37.5"))
    assert r.corrections == ("batch-50pct",) and "corrections: batch-50pct" in r.source


def test_missing_cache_prices_is_an_error_never_zero():
    with pytest.raises(PriceError, match="no write_5m"):
        get_rates("claude-2", batch=False, at=DAY)


OVERRIDES = """
source: "test agreement"
models:
  claude-sonnet-4-5:
    {input: 2.4, write_5m: 3.0, write_1h: 4.8, read: 0.24, output: 12}
  claude-opus-4-5:
    input: 4
    write_5m: 5
    write_1h: 8
    read: 0.4
    output: 20
    batch: {input: 1.8, write_5m: 2.25, write_1h: 3.6, read: 0.18, output: 9}
"""


def test_overrides_standard_and_explicit_batch(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(OVERRIDES)
    r = get_rates("claude-sonnet-4-5-20250929", batch=False, overrides=path)
    assert (r.input, r.read, r.output) == (D("2.4"), D("0.24"), D("12"))
    assert r.long_context_threshold is None and "test agreement" in r.source
    b = get_rates("claude-opus-4-5", batch=True, overrides=path)
    assert (b.input, b.write_1h, b.output) == (D("1.8"), D("3.6"), D("9"))
    # not in the file: falls back to genai-prices
    assert get_rates("claude-haiku-4-5", batch=False, overrides=path, at=DAY).source.startswith("genai-prices")


def test_overrides_batch_needs_explicit_rule(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(OVERRIDES)
    with pytest.raises(PriceError, match="batch_multiplier"):
        get_rates("claude-sonnet-4-5", batch=True, overrides=path)
    path.write_text("batch_multiplier: 0.5\n" + OVERRIDES)
    r = get_rates("claude-sonnet-4-5", batch=True, overrides=path)
    # 2.4 x 0.5 = 1.2; 3.0 x 0.5 = 1.5; 4.8 x 0.5 = 2.4; 0.24 x 0.5 = 0.12; 12 x 0.5 = 6
    assert (r.input, r.write_5m, r.write_1h, r.read, r.output) == (D("1.2"), D("1.5"), D("2.4"), D("0.12"), D("6"))
    # the explicit batch block wins over the multiplier
    assert get_rates("claude-opus-4-5", batch=True, overrides=path).input == D("1.8")


def test_overrides_bad_file(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  claude-sonnet-4-5: {input: 3, write_5m: 3.75, write_1h: 6, read: 0.3}\n")
    with pytest.raises(PriceError, match="output"):
        get_rates("claude-sonnet-4-5", batch=False, overrides=path)
    with pytest.raises(PriceError, match="not found"):
        get_rates("claude-sonnet-4-5", batch=False, overrides=tmp_path / "nope.yaml")


def test_batch_is_half_of_standard_where_genai_prices_has_no_batch_variant():
    # Opus 4.0: genai-prices has no batch variant; the correction layer makes batch 50% of
    # standard: read 1.50 x 0.5 = 0.75. An unknown model is a PriceError.
    assert [get_rates("claude-opus-4-0", batch, at=DAY).read for batch in (False, True)] == [D("1.5"), D("0.75")]
    with pytest.raises(PriceError):
        get_rates("claude-nope-1", batch=False)


def test_shipped_overrides_example_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "config" / "price_overrides.example.yaml"
    r = get_rates("claude-sonnet-4-5-20250929", batch=True, overrides=path)
    # batch_multiplier 0.5: 2.70 x 0.5 = 1.35; long context 5.40 x 0.5 = 2.70 above 200,000
    assert r.input == D("1.35") and r.lc_input == D("2.70") and r.long_context_threshold == 200_000
    assert get_rates("claude-haiku-4-5", batch=True, overrides=path).input == D("0.40")  # explicit block wins


# ------------------------------------------------------------------ overrides: dates, fast, matching


def test_override_dates_fast_block_and_strict_id_matching(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("""
batch_multiplier: 0.5
models:
  claude-sonnet-5:
    {input: 1.8, write_5m: 2.25, write_1h: 3.6, read: 0.18, output: 9, from: 2026-11-01, before: 2027-01-01}
  claude-opus-5-5:
    input: 3.6
    write_5m: 4.5
    write_1h: 7.2
    read: 0.18
    output: 18
    fast: {input: 7.2, write_5m: 9, write_1h: 14.4, read: 0.36, output: 36}
    web_search_per_1k: 8
""")
    # in effect on 2026-11-20: the negotiated 1.8 input; before 2026-11-01 genai-prices' 2
    assert get_rates("claude-sonnet-5", batch=False, overrides=path, at=DAY).input == D("1.8")
    assert get_rates("claude-sonnet-5", batch=False, overrides=path, at=date(2026, 10, 1)).input == D("2")
    # claude-sonnet-5 must not price claude-sonnet-5-5 (a longer id, another model): 2 input, 0.1 read
    other = get_rates("claude-sonnet-5-5", batch=False, overrides=path, at=DAY)
    assert (other.input, other.read) == (D("2"), D("0.1")) and other.source.startswith("genai-prices")
    # a dated id still matches its key
    assert get_rates("claude-sonnet-5-20260301", batch=False, overrides=path, at=DAY).input == D("1.8")
    fast = get_rates("claude-opus-5-5", batch=False, overrides=path, at=DAY, speed="fast")
    assert (fast.input, fast.read, fast.output, fast.web_search_per_1k) == (D("7.2"), D("0.36"), D("36"), D("8"))
    with pytest.raises(PriceError, match="no fast-mode rates"):
        get_rates("claude-sonnet-5", batch=False, overrides=path, at=DAY, speed="fast")
    with pytest.raises(PriceError, match="batches do not offer"):
        get_rates("claude-opus-5-5", batch=True, overrides=path, at=DAY, speed="fast")


def test_prices_env_is_read_when_no_file_is_given(tmp_path, monkeypatch):
    path = tmp_path / "prices.yaml"
    path.write_text(OVERRIDES)
    monkeypatch.setenv("CACHECAST_PRICES", str(path))
    # the file's Sonnet 4.5 input is 2.4 (genai-prices: 3)
    assert get_rates("claude-sonnet-4-5", batch=False, at=DAY).input == D("2.4")
    monkeypatch.delenv("CACHECAST_PRICES")
    assert get_rates("claude-sonnet-4-5", batch=False, at=DAY).input == D("3")


def test_the_bundled_snapshot_loads_without_the_updater_and_leaves_the_real_package_importable():
    """facts.pricing imports genai_prices' data modules without the package __init__ (which
    imports its updater, an HTTP client and asyncio: a third of a second per ingest). That
    leans on genai_prices' module layout, so a release that moves it must fail here, and the
    real package must still import afterwards, whole (every submodule an attribute), with the
    same data."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cachecast.facts import pricing\n"
        "snap = pricing._snapshot()\n"
        "assert 'genai_prices.update_prices' not in sys.modules and 'httpx' not in sys.modules, sorted(sys.modules)\n"
        "assert 'asyncio' not in sys.modules\n"
        "import genai_prices, genai_prices.data\n"
        "assert genai_prices.__file__.endswith('__init__.py') and hasattr(genai_prices, 'calc_price')\n"
        "ids = lambda ps: [(p.id, len(p.models)) for p in ps]\n"
        "assert ids(genai_prices.data.providers) == ids(snap.providers) != []\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
