"""Figure 3: `cachecast build` for N requests vs writing the same dicts with json.dumps.

The floor is the least any builder must do: serialise the request lines and manifest rows
it produces and write them. We render every (request line, manifest row) pair first
(untimed), then time json.dumps + write of exactly those dicts, with the same json.dumps
arguments build uses. build itself is timed in-process (same interpreter, warm imports) so
the ratio is not inflated by process start-up."""
from __future__ import annotations

import gc
import json

import gen
from harness import OUT, Report, fmt_s, interleaved, log, ratio, rm

TARGET = 1.5


def write_floor(pairs: list[tuple[dict, dict]], out) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "requests-0001.jsonl", "w", encoding="utf-8") as fh, \
            open(out / "manifest.jsonl", "w", encoding="utf-8") as man:
        for line, row in pairs:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            man.write(json.dumps(row) + "\n")


def build_dir(n: int):
    return OUT / f"build-{n}"


def run(rep: Report, quick: bool) -> None:
    from cachecast.build.batches import build, iter_requests
    from cachecast.build.config import load_config

    n = 20_000 if quick else 100_000
    cfg = load_config(gen.config(n))
    out, floor_out = build_dir(n), OUT / f"build-floor-{n}"
    log(f"rendering {n:,} request dicts for the floor")
    pairs = list(iter_requests(cfg, n))
    log("timing the json.dumps floor and build, in turn")
    got = interleaved({"floor": lambda: write_floor(pairs, floor_out),
                       "build": lambda: build(cfg, out, limit=n, progress=False)},
                      n=2, setup={"floor": lambda: rm(floor_out), "build": lambda: rm(out)})
    size = sum(f.stat().st_size for f in floor_out.iterdir())
    del pairs
    gc.collect()
    rm(floor_out)
    (bw, bc), (fw, fc) = got["build"], got["floor"]
    L = f"{n // 1000}k"
    rep.add(f"build.{L}.seconds", fmt_s(bw), note=f"{size / 1e6:,.0f} MB of requests + manifest, in-process")
    rep.add(f"build.{L}.floor_json_dumps", fmt_s(fw), note="json.dumps + write of the same dicts, rendered beforehand")
    rep.add(f"build.{L}.vs_floor", ratio(bw, fw), f"<= {TARGET}x", bw / fw <= TARGET,
            note=f"wall clock; CPU time ratio {bc / fc:.2f}x")
