"""cachecast models [--json] [--refresh]: the model facts every other command uses.

Without a key the dated table shipped with cachecast answers. With ANTHROPIC_API_KEY,
--refresh stores what the Models API says (lifecycle, retires_at, max_tokens, capabilities),
each row checked against the SDK's ModelInfo first (a bad answer is refused and the old cache
kept), and later commands prefer it; a model only the API lists is added with conservative
defaults for what the API does not give. The `source` line says which was used."""
from __future__ import annotations

import json
import sys

from ...facts import model_cache, models
from .submit import add_connection_args


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list model facts (lifecycle, cache minimum, sampling and thinking rules)",
                       description=__doc__)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--refresh", action="store_true", help="read the Models API (needs ANTHROPIC_API_KEY) and keep it")
    add_connection_args(p, version_help="the SDK's")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.refresh:
        path = refresh(args)
        print(f"stored the Models API's answer in {path}", file=sys.stderr)
    day = models.today()
    rows = []
    for facts in models.all_models():
        row = facts.contract_row()
        row["lifecycle"] = models.lifecycle_on(facts, day)
        rows.append(row)
    if args.json:
        print(json.dumps({"source": models.source(), "as_of": models.as_of(), "today": day.isoformat(),
                          "models": rows}))
        return 0
    print(render(rows, day))
    return 0


def refresh(args):
    from ...send import api
    from .submit import client_for

    client = client_for(args)
    kept = f"nothing was stored and the models cache {model_cache.refresh_path()} is unchanged"  # as model_cache says it
    with api.api_errors("listing models", kept):
        # every page under one deadline, at most api.MAX_PAGES of them; as the SDK parsed them
        # (it does not validate): model_cache checks each against ModelInfo and its ranges
        listed = api.list_all(client, lambda: client.models.list(limit=100), "the Models API")
    return models.store_refresh([m.model_dump(mode="json", warnings=False) for m in listed])


def render(rows: list[dict], day) -> str:
    head = f"{'model':28} {'lifecycle':10} {'retires':10} {'min cache':>9}  {'tokenizer':9} {'thinking':33} " \
           f"{'effort':>7}  replacement"
    lines = [head, "-" * len(head)]
    for r in rows:
        thinking = "/".join(r["thinking"]) + (" (default)" if r["thinking_default"] == "adaptive" else "")
        lines.append(f"{r['id']:28} {r['lifecycle']:10} {r['retires_at'] or '':10} {r['min_cache_tokens']:>9,}"
                     f"{'*' if r['min_cache_assumed'] else ' '} {r['tokenizer']:9} {thinking:33} "
                     f"{r['default_effort'] or '-':>7}  {r['replacement'] or ''}")
    lines.append(f"* minimum not published; assumed. Lifecycle as of {day}. Source: {models.source()}")
    return "\n".join(lines)
