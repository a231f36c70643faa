"""Figure 4: token counting.

- offline estimate: `cachecast count DIR --json` (no API key in the environment) over the
  100,000-request build that fig_build leaves in bench/out/, as a fresh process;
- exact: the 5,000 items x 3 treatments x 2 temperatures reference run counted through
  the real `anthropic` SDK against the local fake server (tests/fakeapi.py) on 127.0.0.1.
  The expected number of count_tokens calls is worked out here independently of
  cachecast.tokens.count: one per distinct cached prefix, one per distinct text block after the
  breakpoint (treatment suffixes, item texts), plus one probe turn per model when a prefix
  ends before the messages (the API needs a message to count). A re-run must make none."""
from __future__ import annotations

import json
import sys

import gen
from harness import CACHECAST, OUT, REPO, Report, fmt_s, log, offline_env, rm, run_proc, timed

ESTIMATE_LIMIT = 10.0


def run(rep: Report, quick: bool) -> None:
    estimate(rep, quick)
    exact(rep, quick)


def estimate(rep: Report, quick: bool) -> None:
    from cachecast.build.batches import build
    from cachecast.build.config import load_config

    import fig_build

    n = 20_000 if quick else 100_000
    d = fig_build.build_dir(n)
    if not (d / "build.json").exists():
        log(f"building {n:,} requests for the count benchmark")
        rm(d)
        build(load_config(gen.config(n)), d, limit=n, progress=False)
    runs = [run_proc([CACHECAST, "count", str(d), "--json"], env=offline_env()).check("count") for _ in range(2)]
    best = min(runs, key=lambda p: p.seconds)
    out = json.loads(best.stdout)
    assert out["requests"] == n and out["source"] == "estimate", out
    target = f"< {ESTIMATE_LIMIT:g} s" if not quick else ""
    rep.add(f"count.estimate.{n // 1000}k.seconds", fmt_s(best.seconds), target,
            best.seconds < ESTIMATE_LIMIT if target else None,
            note=f"`cachecast count --json` process, {out['prefix_tokens']['distinct']} distinct prefix(es)")


def expected_parts(build_dir) -> tuple[int, int, int]:
    """(distinct prefixes, distinct texts after the breakpoint, probes needed) read straight
    from the request files: blocks in cache-key order tools -> system -> messages."""
    prefixes, rest, probe_models = set(), set(), set()
    for f in sorted(build_dir.glob("requests-*.jsonl")):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                p = json.loads(line)["params"]
                seq = [("tools", t) for t in p.get("tools") or []]
                seq += [("system", b) for b in p.get("system") or []]
                seq += [("messages", b) for m in p["messages"] for b in m["content"]]
                last = max((i for i, (_, b) in enumerate(seq) if "cache_control" in b), default=-1)
                if last >= 0:  # the cache key ignores the cache_control markers themselves
                    prefix = [(s, {k: v for k, v in b.items() if k != "cache_control"}) for s, b in seq[:last + 1]]
                    prefixes.add((p["model"], json.dumps(prefix, sort_keys=True)))
                    if seq[last][0] != "messages":
                        probe_models.add(p["model"])
                for section, b in seq[last + 1:]:  # a text counts once wherever it appears
                    kind = "tool" if section == "tools" else "block"
                    rest.add((p["model"], kind, json.dumps(b, sort_keys=True)))
    return len(prefixes), len(rest), len(probe_models)


def exact(rep: Report, quick: bool) -> None:
    from cachecast.build.batches import build
    from cachecast.build.config import load_config
    from cachecast.tokens.count import TokenCounter, count_path

    sys.path.insert(0, str(REPO / "tests"))
    try:
        from fakeapi import FakeAnthropic
    except ImportError:
        rep.missing("count.exact.api_calls", "one per distinct text", "tests/fakeapi.py not importable")
        return
    cfg_path = REPO / "config" / "eval_config.full.anthropic.yaml"
    d = OUT / "build-full"
    if not (d / "build.json").exists():
        rm(d)
        build(load_config(cfg_path), d, progress=False)
    n_prefix, n_rest, n_probe = expected_parts(d)
    expected = n_prefix + n_rest + n_probe
    requests = sum(1 for _ in open(d / "manifest.jsonl"))
    db = OUT / "bench-tokens.duckdb"
    rm(db)
    with FakeAnthropic() as fake:
        def calls() -> int:
            return len([p for p in fake.paths("POST") if p == "/v1/messages/count_tokens"])

        log(f"exact counts for {requests:,} requests against the fake server")
        first_s, first = timed(lambda: count_path(d, TokenCounter(client=fake.client(max_retries=2), db=db,
                                                                   progress=False)))
        made = calls()
        rep.add("count.exact.full_run.api_calls", f"{made:,}",
                f"one per distinct text = {expected:,} ({n_prefix} prefix + {n_rest:,} texts + {n_probe} probe)",
                made == expected, note=f"{requests:,} requests, {first_s:.1f} s against the local fake server")
        again_s, again = timed(lambda: count_path(d, TokenCounter(client=fake.client(max_retries=2), db=db,
                                                                   progress=False)))
        rerun = calls() - made
        rep.add("count.exact.rerun.api_calls", f"{rerun:,}", "0", rerun == 0,
                note=f"{again_s:.2f} s, every count remembered in the store")
        assert first.prefix == again.prefix and first.rest == again.rest


if __name__ == "__main__":
    run(Report(section="tokens"), "--quick" in sys.argv)
