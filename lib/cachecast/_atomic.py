"""Output directories that appear only when complete (builds, Parquet exports)."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ._output import check_output_dir


@contextmanager
def atomic_dir(out: Path, marker: str, what: str) -> Iterator[Path]:
    """Yield a temp directory beside `out`; on success it replaces `out`, on any failure it
    vanishes, so a half-written result never looks finished. An existing `out` is replaced
    only when it holds `marker` (an earlier output of ours), never a user's own files."""
    check_output_dir(out, marker, what)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
