"""Figure 6: `cachecast demo` end to end, and papermill wall time of each report notebook on
the sample data (the demo's pilot store and the reference config).

The demo runs first as a fresh process (build, lint, count, project, simulate, ingest,
audit, both reports); each notebook is then executed again with papermill exactly as
`cachecast report` does it (same kernel manager), timed apart from the HTML export."""
from __future__ import annotations

import sys
import time

from harness import CACHECAST, OUT, Report, fmt_s, fresh_dir, log, offline_env, run_proc

DEMO_LIMIT = 60.0


def run(rep: Report, quick: bool) -> None:
    out = fresh_dir(OUT / "demo")
    demo_ok = False
    log("cachecast demo (end to end, fresh process)")
    proc = run_proc([CACHECAST, "demo", "--out", str(out)], env=offline_env(), cwd=out)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        rep.missing("demo.seconds", f"< {DEMO_LIMIT:g} s", f"demo failed: {err[-1] if err else proc.returncode}")
    else:
        demo_ok = True
        rep.add("demo.seconds", fmt_s(proc.seconds), f"< {DEMO_LIMIT:g} s", proc.seconds < DEMO_LIMIT,
                note=f"peak RSS {proc.max_rss / 1e6:,.0f} MB (the demo process; kernels are children)")
    from cachecast.cli import demo
    from cachecast.report import reports

    work = (out / "build" / "demo").resolve()  # what the demo leaves behind; the same parameters it uses
    db = str(work / "cachecast.duckdb")
    jobs = [("project", {"config": str(demo.FULL_CONFIG), "exact": False, "pilot_budget_usd": 25}),
            ("audit", {"db": db, "db_path": db, "batch_id": demo.SIM_BATCH_ID, "manifest_dir": str(work / "pilot"),
                       "projection_json": str(work / "projection-pilot.json")})]
    for kind, params in jobs:
        name = f"notebook.{reports.NOTEBOOKS[kind].removesuffix('.ipynb')}"
        try:
            nb = reports.notebook_path(kind)
        except Exception as exc:  # noqa: BLE001 - a missing notebook is reported, not fatal
            rep.missing(name, "", str(exc))
            continue
        if kind == "audit" and not demo_ok:
            rep.missing(name, "", "needs the demo's pilot store (the demo did not run)")
            continue
        known = reports.parameters(nb)
        params = {k: v for k, v in params.items() if k in known}
        executed = out / f"{nb.stem}.executed.ipynb"
        log(f"papermill {nb.name}")
        t = time.perf_counter()
        try:
            reports._execute(nb, executed, params)
        except Exception as exc:  # noqa: BLE001
            rep.missing(name, "", f"papermill failed: {str(exc)[:200]}")
            continue
        seconds = time.perf_counter() - t
        t = time.perf_counter()
        html = reports.export_html(executed)
        export = time.perf_counter() - t
        rep.add(name + ".papermill", fmt_s(seconds),
                note=f"HTML export {export:.1f} s more, {len(html) / 1e6:.1f} MB report")


if __name__ == "__main__":
    run(Report(section="notebooks"), "--quick" in sys.argv)
