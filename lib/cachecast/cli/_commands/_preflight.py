"""What every command that spends money (or plans to) checks first: the model's lifecycle.

Retired: one sentence with the date and the replacement, exit 2, because every request
would come back errored. Deprecated: a warning on stderr. Ingest, audit and reports do not
call this: pricing the results of a retired model is history, not a mistake.

Also the flags several commands share: --prices (every pricing command), --store-prices
(the read commands) and --call-deadline (every command that calls the API)."""
from __future__ import annotations

import sys
from pathlib import Path

# no module-level imports of config or models: `ingest` and `audit` import this module for
# add_prices_arg, and must not pay for pydantic on every start (see cli.py)


def check_config(cfg, command: str) -> None:
    """Lifecycle of the config's model (Anthropic only), then the config's own warnings."""
    from ...build.config import config_warnings
    from ...facts.models import check_lifecycle

    if cfg.provider.name == "anthropic":
        warn(check_lifecycle(cfg.provider.model), command)
    for sentence in config_warnings(cfg):
        warn(sentence, command)


def check_build(path: Path, command: str) -> None:
    """Lifecycle of the model a build (or a request file) was made for."""
    from ...build.build_files import build_info
    from ...facts.models import check_lifecycle, find

    meta = build_info(path)
    model = meta.get("model")
    if isinstance(model, str) and meta.get("provider", "anthropic") == "anthropic" and find(model) is not None:
        warn(check_lifecycle(model), command)


PRICES_HELP = "price overrides YAML on top of genai-prices and cachecast's corrections (default: CACHECAST_PRICES)"


def add_prices_arg(p, extra: str = "") -> None:
    """--prices FILE, the same on every command that prices (issue 11)."""
    p.add_argument("--prices", type=Path, default=None, metavar="FILE", help=PRICES_HELP + extra)


def add_call_deadline_arg(p) -> None:
    """--call-deadline on every command that calls the API: the overall bound on one call,
    besides the per-read --timeout (send/guard.py)."""
    from .._argtypes import bounded_float
    from ...send.api import DEFAULT_CALL_DEADLINE

    p.add_argument("--call-deadline", type=bounded_float(1, 7 * 86400), default=DEFAULT_CALL_DEADLINE,
                   metavar="SECONDS", help="give up on an API call after this long in all: every attempt, retry "
                   "wait and the whole answer (a streamed results file too) (default %(default)s)")


def add_store_prices_arg(p) -> None:
    """--store-prices: read commands take --prices as a what-if for this command only, unless told."""
    p.add_argument("--store-prices", action="store_true",
                   help="with --prices (or CACHECAST_PRICES): also record the file's rates in the store, so later "
                        "audit, ledger and report commands price with them (default: they apply to this command only)")


def warn(sentence: str | None, command: str) -> None:
    if sentence:
        print(f"cachecast {command}: warning: {sentence}", file=sys.stderr)
