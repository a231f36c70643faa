"""Folders and files cachecast writes for people: one check for every output folder, and a
full disk said with the file's name.

Every command that writes a folder for people (builds, exports, CSV folders, the demo's work
folder) uses one rule, `check_output_dir`: a folder that exists is written into only when it
is empty or holds the marker file of an earlier output of the same kind, never a user's own
files; a path that is a file is refused.

A full disk is said with the file that was being written: `writing(path, ...)` names it
(DuckDB reports ENOSPC in its own IOException, with the OS text inside) and says what was kept.
"""
from __future__ import annotations

import errno
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import InputError

_DUCKDB_FILE = re.compile(r'Could not write file \\?"(.+?)\\?"')
_FULL = (errno.ENOSPC, errno.EDQUOT)


def check_output_dir(out: Path, marker: str | None, what: str, option: str = "--out",
                     ours: re.Pattern | None = None) -> None:
    """Refuse `out` unless it is missing, an empty folder, or an earlier output of this kind:
    a folder holding `marker`, or (for folders of loose files, like CSV tables) one whose
    every entry is named like a file this output writes (`ours`). A regular file is refused
    too. One sentence each."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out}: is a file; {option} takes a folder")
    try:
        names = [p.name for p in out.iterdir()]
    except OSError as exc:
        raise InputError(f"{out}: cannot be listed ({exc.strerror or exc}); choose another {option}") from None
    if not names or (marker is not None and marker in names):
        return
    if ours is not None and all(ours.fullmatch(name) for name in names):
        return
    holds = f"no {marker}" if marker else "files cachecast did not write"
    raise InputError(f"{out}: exists and is not an earlier {what} (it holds {holds}); choose a new or empty folder "
                     f"for {option}")


def disk_full_file(exc: BaseException) -> str | None:
    """The file a full disk (or quota) stopped writing, when `exc` is that; else None. For
    DuckDB's IOException the name is taken from its message ('Could not write file "X"')."""
    if isinstance(exc, OSError) and exc.errno in _FULL:
        name = exc.filename2 if exc.filename2 is not None else exc.filename
        return str(name) if name is not None else ""
    text = str(exc)
    if type(exc).__module__.startswith(("duckdb", "_duckdb")) and "No space left on device" in text:
        found = _DUCKDB_FILE.search(text)
        return found.group(1) if found else ""
    return None


@contextmanager
def writing(path: Path | str, kept: str) -> Iterator[None]:
    """Turn a full disk inside the block into one sentence naming `path` (the file as the
    user will look for it, not a temporary name) and what was kept (`kept`, e.g. "nothing
    was exported")."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - only a full disk is translated, the rest re-raised
        if disk_full_file(exc) is None:
            raise
        raise InputError(f"disk full while writing {path}; {kept}") from None
