"""The `cachecast` command. Each subcommand lives in cachecast/_commands/<name>.py with
`add_parser(subparsers)` and `run(args) -> int`; this module only wires them and turns
errors into one sentence on stderr."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from .errors import CachecastError, redact

COMMANDS = ["build", "lint", "count", "project", "ingest", "audit", "export", "report",
            "submit", "status", "fetch", "demo"]


def parser(names: list[str] = COMMANDS) -> argparse.ArgumentParser:
    """The command line; `names` limits which command modules are imported."""
    p = argparse.ArgumentParser(prog="cachecast", description="Budget and verify Anthropic prompt caching "
                                "for batch evaluations.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in names:
        module = importlib.import_module(f"cachecast._commands.{name}")
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
        print(f"cachecast {args.command}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"cachecast {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: say so plainly, details only on request
        if os.environ.get("CACHECAST_DEBUG"):
            traceback.print_exc()
        print(f"cachecast {args.command}: internal error: {redact(f'{type(exc).__name__}: {exc}')} "
              "(set CACHECAST_DEBUG=1 for a traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
