"""Timing, memory and reporting helpers shared by the benchmark sections.

A figure is printed as one line `name: value (target: ..., met|MISSED)` the moment it is
measured, and collected so run.py can write bench/out/latest.json and the table in
docs/benchmarks.md. Ratios are measured in the same run (the machine is shared and noisy;
a ratio of two timings taken back to back is far steadier than either time)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
PY = sys.executable
CACHECAST = str(Path(sys.executable).parent / "cachecast")


@dataclass
class Figure:
    section: str
    name: str
    value: str               # as printed
    target: str = ""         # "" when the figure is informational
    met: bool | None = None  # None: no target, or not measurable
    note: str = ""

    def line(self) -> str:
        verdict = "" if self.met is None else (", met" if self.met else ", MISSED")
        target = f" (target: {self.target}{verdict})" if self.target else " (info)"
        return f"{self.name}: {self.value}{target}" + (f"  # {self.note}" if self.note else "")


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    section: str = ""

    def add(self, name: str, value: str, target: str = "", met: bool | None = None, note: str = "") -> Figure:
        fig = Figure(self.section, name, value, target, met, note)
        self.figures.append(fig)
        print(fig.line(), flush=True)
        return fig

    def missing(self, name: str, target: str, why: str) -> Figure:
        return self.add(name, "n/a", target, None, why)

    def as_json(self) -> list[dict]:
        return [asdict(f) for f in self.figures]


def log(text: str) -> None:
    """Progress chatter goes to stderr so stdout is only figure lines."""
    print(f"  .. {text}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def interleaved(fns: dict[str, Callable[[], Any]], n: int = 2,
                setup: dict[str, Callable[[], Any]] | None = None) -> dict[str, tuple[float, float]]:
    """{name: (best wall seconds, best CPU seconds of this process)} running the functions
    in turn, n rounds: a burst of load from other jobs then hits all of them alike."""
    best = {name: (float("inf"), float("inf")) for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            if setup and name in setup:
                setup[name]()
            cpu, wall = time.process_time(), time.perf_counter()
            fn()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def best_of(fn: Callable[[], Any], n: int = 3, setup: Callable[[], Any] | None = None) -> tuple[float, Any]:
    """Minimum wall time of n runs (the least noisy estimate on a shared machine)."""
    best, value = float("inf"), None
    for _ in range(n):
        if setup:
            setup()
        seconds, value = timed(fn)
        best = min(best, seconds)
    return best, value


@dataclass
class Proc:
    seconds: float
    max_rss: int  # bytes, of the child process itself (os.wait4, not the cumulative RUSAGE_CHILDREN)
    cpu: float    # user + system seconds of the child, all its threads
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str) -> "Proc":
        if self.returncode != 0:
            raise RuntimeError(f"{what} exited {self.returncode}: {self.stderr.strip()[-800:]}")
        return self


def run_proc(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> Proc:
    """Run a command; its wall time and its own peak RSS. Output goes to temp files (not
    pipes: waiting on a child whose pipe is full would deadlock)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, proc.returncode, out.read(),
                    err.read())


def offline_env() -> dict:
    """The environment without an API key, so nothing can reach the real API."""
    return {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def rm(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def fmt_mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.0f} MB"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "inf"


def machine() -> dict:
    cpu = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    import duckdb

    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem / 2**30, 1),
            "python": sys.version.split()[0], "duckdb": duckdb.__version__,
            "load_average_at_start": round(os.getloadavg()[0], 2)}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
