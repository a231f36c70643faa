"""The `cachecast` command. Each subcommand lives in cachecast/_commands/<name>.py with
`add_parser(subparsers)` and `run(args) -> int`; this module only wires them and turns
errors into one sentence on stderr.

Exit codes: 0 done, 1 findings (lint) or a failed check, 2 bad input (always one sentence:
a CachecastError, a bad option, or an OSError that is about the user's path or disk), 3 a
bug in cachecast (one sentence asking for a report; CACHECAST_DEBUG=1 shows the
traceback), 130 interrupted."""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback

from ..errors import CachecastError, redact

COMMANDS = ["build", "lint", "count", "project", "ingest", "audit", "export", "report",
            "submit", "status", "fetch", "models", "demo", "probe", "ledger", "reconcile"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (`cachecast CMD: error: ...`, exit 2) like
    every other input error, not a usage dump; `--help` still shows the usage."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser(names: list[str] = COMMANDS) -> argparse.ArgumentParser:
    """The command line; `names` limits which command modules are imported."""
    p = _Parser(prog="cachecast", description="Budget and verify Anthropic prompt caching "
                "for batch evaluations.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in names:
        module = importlib.import_module(f"cachecast.cli._commands.{name}")
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Import only the command being run: `ingest` need not load pydantic, pandas or papermill,
    # which is a third of a second on every invocation. `cachecast --help` still lists all.
    names = [argv[0]] if argv and argv[0] in COMMANDS else COMMANDS
    args = parser(names).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CachecastError as exc:
        return _fail(args.command, redact(str(exc)), exc.exit_code)
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except BrokenPipeError:
        return 0
    except OSError as exc:
        sentence = os_error_sentence(exc)
        if sentence is None:
            return _internal(args.command, exc)
        return _fail(args.command, redact(sentence), 2)
    except Exception as exc:  # noqa: BLE001 - a bug of ours: say so plainly, details only on request
        if _query_interrupted(exc):
            return _interrupted(args.command)
        sentence = _disk_full_in(exc) or _damaged_store_in(exc)
        if sentence:
            return _fail(args.command, redact(sentence), 2)
        return _internal(args.command, exc)


INTERRUPTED = "interrupted; the step in progress was not committed (finished files and batches are kept)"


def _interrupted(command: str) -> int:
    return _fail(command, INTERRUPTED, 130, label="")


def _query_interrupted(exc: BaseException) -> bool:
    """Ctrl-C inside a DuckDB query does not raise KeyboardInterrupt: DuckDB takes the signal
    and raises RuntimeError("Query interrupted") (duckdb.InterruptException when interrupted
    from code); it is the user's Ctrl-C, not a bug: exit 130."""
    if type(exc).__name__ == "InterruptException" and type(exc).__module__.startswith(("duckdb", "_duckdb")):
        return True
    return type(exc) is RuntimeError and str(exc).strip() == "Query interrupted"


def _damaged_store_in(exc: BaseException) -> str | None:
    """DuckDB's checksum error in a query (a damaged block read after the store opened)."""
    if not type(exc).__module__.startswith(("duckdb", "_duckdb")):
        return None
    from ..store import damage_sentence

    return damage_sentence(exc)


def _fail(command: str, sentence: str, code: int, label: str = "error: ") -> int:
    print(f"cachecast {command}: {label}{_one_line(sentence)}", file=sys.stderr)
    return code


def _internal(command: str, exc: BaseException) -> int:
    if os.environ.get("CACHECAST_DEBUG", "") not in ("", "0"):
        traceback.print_exc()
    detail = redact(f"{type(exc).__name__}: {exc}")
    return _fail(command, f"internal error in cachecast: {detail}; please report it "
                 "(set CACHECAST_DEBUG=1 for a traceback)", 3, label="")


def _one_line(text: str) -> str:
    """Exception texts may hold newlines (DuckDB's do); stderr gets one line."""
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


# Errors about the user's paths and disk, not about cachecast: exit 2, in these words.
_USER_ERRNOS = {
    errno.ENOSPC: "disk full while writing {name}; nothing was committed",
    errno.EDQUOT: "disk quota exceeded while writing {name}; nothing was committed",
    errno.ENAMETOOLONG: "{name}: file name too long",
    errno.ENOTDIR: "{name}: a part of this path is a file, not a directory",
    errno.EISDIR: "{name}: is a directory",
    errno.EACCES: "{name}: permission denied",
    errno.EPERM: "{name}: operation not permitted",
    errno.EROFS: "{name}: read-only file system",
    errno.ENOENT: "{name}: no such file or directory (was it moved or deleted while cachecast ran?)",
    errno.EEXIST: "{name}: already exists and is in the way",
    errno.ELOOP: "{name}: too many levels of symbolic links",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or give fewer files at once",
}


def os_error_sentence(exc: OSError) -> str | None:
    """One sentence for an OSError that is the user's (disk full, a path through a regular
    file, a name too long, no permission); None when it looks like a bug of ours."""
    template = _USER_ERRNOS.get(exc.errno or 0)
    if template is None:
        return None
    name = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        name = exc.filename2
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and _is_file(name):
        template = "{name}: is a file, not a directory"  # mkdir(parents=True) through a regular file
    return template.format(name=_short(str(name)))


def _is_file(name: object) -> bool:
    try:
        return os.path.isfile(os.fspath(name))  # type: ignore[arg-type]
    except (TypeError, ValueError, OSError):
        return False


def _short(name: str, limit: int = 120) -> str:
    """A 300-character name is shown by its ends, enough to recognise it."""
    return name if len(name) <= limit else f"{name[:60]}...{name[-40:]}"


def _disk_full_in(exc: BaseException) -> str | None:
    """DuckDB reports a full disk as its own IOException, with the OS text and the file's name
    inside ('Could not write file "X"'): the sentence names that file."""
    from .._output import disk_full_file

    name = disk_full_file(exc) if type(exc).__module__.startswith(("duckdb", "_duckdb")) else None
    if name is None:
        return None
    return f"disk full while writing {_short(name) if name else 'the database'}; nothing was committed"

