"""cachecast status TARGET...: processing status and request counts of batches.

TARGET is a build directory (its batches.json lists the batches) or a batch id."""
from __future__ import annotations

import json
from pathlib import Path

from ...send import api
from .submit import add_connection_args, client_for


def add_parser(sub) -> None:
    p = sub.add_parser("status", help="show the status of submitted batches", description=__doc__)
    p.add_argument("targets", nargs="+", metavar="TARGET", help="build directory or batch id")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_connection_args(p)
    p.set_defaults(run=run)


def _batch_ids(targets: list[str]) -> list[str]:
    ids: list[str] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            records = api.read_records(path)
            if not records:
                from ...errors import InputError

                raise InputError(f"{path}: no batches.json here; nothing has been submitted from this build")
            ids.extend(r.batch_id for r in records)
        else:
            ids.append(target)
    return ids


def run(args) -> int:
    ids = _batch_ids(args.targets)
    dirs = [Path(t) for t in args.targets if Path(t).is_dir()]
    client = client_for(args, dirs[0] if dirs else None)
    rows = []
    with api.api_errors("checking batch status", "nothing was changed"):
        for bid in ids:
            b = client.messages.batches.retrieve(bid)
            rows.append({"batch_id": b.id, "processing_status": b.processing_status,
                         "request_counts": b.request_counts.model_dump(),
                         "created_at": b.created_at.isoformat(), "ended_at": b.ended_at and b.ended_at.isoformat()})
    if args.json:
        print(json.dumps({"batches": rows}))
        return 0
    for row in rows:
        counts = ", ".join(f"{v} {k}" for k, v in row["request_counts"].items() if v)
        print(f"{row['batch_id']}: {row['processing_status']} ({counts or 'no requests'})")
    return 0
