"""The provenance header at the top of every report: what produced these numbers.

A report is shared and read weeks later, away from the terminal that made it. Without
the config it came from (and a fingerprint, since the file changes), the parameters, the
cachecast / SDK / API versions, the price snapshot and the model-facts table, nobody can
tell whether two reports are comparable or reproduce one. Simulated data gets a banner
nobody scrolls past, not a sentence.

A report leaves the machine, so no absolute path appears in it: the config, stores and
folders are shown relative to the project (or the config's folder), the home folder as `~`,
a temporary folder as "a temporary build" (cachecast._shown_paths). The config's sha256 is
what identifies it. Parameters left at null are not listed: they say nothing.

`header(...)` returns a display object (cachecast.report.display.Html): escaped, never typeset.
`facts(...)` gives the same as (label, value) pairs for tests and other front ends.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Mapping

from .._shown_paths import locate, scrub, shown_path
from .display import Html, banner, escape

SIMULATED = ("SIMULATED DATA: these results come from cachecast.sim, not from Anthropic; "
             "no model was called and no money was spent.")


def fingerprint(path: str | Path | None) -> str:
    """sha256 of the file's bytes, first 12 hex digits ("missing" when it cannot be read)."""
    if path is None:
        return ""
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _default_api_version() -> str:
    from ..facts.models import DEFAULT_API_VERSION

    return DEFAULT_API_VERSION


def _default_price_source() -> str:
    return f"genai-prices {_version('genai-prices')} bundled snapshot"


def _model_facts() -> str:
    from ..facts import models

    return f"{models.source()} (as of {models.as_of()})"


# parameters that name a file or folder (by the name's ending, or the name itself)
PATH_SUFFIXES = ("_path", "_dir", "_json", "_db", "_glob", "_file")
PATH_NAMES = {"config", "prices", "price_overrides"}


def is_path_parameter(name: str, value: Any) -> bool:
    """A text parameter that names a file: by its name, or because it is an absolute path."""
    if type(value) is not str:
        return False
    return name in PATH_NAMES or name.endswith(PATH_SUFFIXES) or value.startswith(("/", "~"))


def shown_value(name: str, value: Any, config_dir: Path | None = None) -> Any:
    """A parameter's value as a report shows it: a path as shown_path shows it (found first
    as the notebook found it), anything else as it is."""
    if is_path_parameter(name, value):
        return shown_path(locate(value), config_dir=config_dir)
    return value


def _shown(name: str, value: Any, config_dir: Path | None) -> str:
    """A parameter value as JSON (what `-p` takes), a path as shown_value shows it, cut short
    so the header stays a header."""
    text = json.dumps(shown_value(name, value, config_dir), default=str, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def shown_parameters(params: Mapping[str, Any], config_dir: Path | None = None) -> str:
    """The parameters row: name=value for each parameter not left at null."""
    return ", ".join(f"{k}={_shown(k, v, config_dir)}" for k, v in params.items() if v is not None)


def facts(params: Mapping[str, Any], *, config_path: str | Path | None = None, simulated: bool = False,
          price_source: str | None = None, api_version: str | None = None,
          generated_at: datetime | None = None) -> list[tuple[str, str]]:
    """The header's rows, in reading order."""
    from .. import __version__

    when = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    rows = []
    config_dir = Path(config_path).absolute().parent if config_path is not None else None
    if config_path is not None:
        rows.append(("config", f"{shown_path(config_path, config_dir=config_dir)} ({fingerprint(config_path)})"))
    rows += [
        ("parameters", shown_parameters(params, config_dir) or "defaults"),
        ("cachecast", __version__),
        ("SDK / API", f"anthropic {_version('anthropic')}, anthropic-version {api_version or _default_api_version()}"),
        ("prices", price_source or _default_price_source()),
        ("model facts", _model_facts()),
        ("data", "SIMULATED (cachecast.sim)" if simulated else "as ingested / projected"),
        ("generated", when.strftime("%Y-%m-%d %H:%M UTC")),
    ]
    return [(label, scrub(value, config_dir=config_dir)) for label, value in rows]  # e.g. an overrides file


def header(params: Mapping[str, Any], *, config_path: str | Path | None = None, simulated: bool = False,
           price_source: str | None = None, api_version: str | None = None,
           generated_at: datetime | None = None) -> Html:
    """The provenance block as a display object (a SIMULATED banner first when simulated)."""
    rows = facts(params, config_path=config_path, simulated=simulated, price_source=price_source,
                 api_version=api_version, generated_at=generated_at)
    body = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{escape(k)}</th><td style='text-align:left'>{escape(v)}</td></tr>"
                   for k, v in rows)
    block = Html('<details open class="cachecast-provenance"><summary><strong>Provenance</strong></summary>'
                 f'<table class="cachecast-table" style="font-size:0.9em">{body}</table></details>',
                 "Provenance\n" + "\n".join(f"{k}: {v}" for k, v in rows))
    return banner(SIMULATED) + block if simulated else block
