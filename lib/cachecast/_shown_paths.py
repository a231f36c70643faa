"""Local paths: where a notebook finds one, and how anything that leaves the machine shows one.

Finding (`locate`): a notebook runs from notebooks/ in JupyterLab but from the project root
under papermill and the CLI, so a relative path is tried as given, then from the project
root of the working directory (the nearest folder above it holding pyproject.toml), then
from the cachecast checkout itself.

Showing (`shown_path`, `scrub`): a report or a saved notebook is mailed around, so an
absolute path in it tells the reader nothing and leaks user and folder names. A path is
shown relative to the project root; else relative to the config's folder when one is given
and the file is under it; a temporary folder's name never appears ("a temporary build");
the home directory is `~`; anything else keeps only its last two parts ("…/runs/x.duckdb").
`scrub` applies the same to free text (a warning or an error that quotes a path).
"""
from __future__ import annotations

import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]  # lib/cachecast/ -> the checkout (pip install -e)
TEMPORARY = "a temporary build"
OUTSIDE = "…"


def project_root(start: str | Path | None = None) -> Path | None:
    """The nearest folder at or above `start` (default: the working directory) that holds a
    pyproject.toml, or None."""
    here = Path(start or os.getcwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def roots() -> list[Path]:
    """The folders a relative path is read against, in order: the working directory's
    project, then the cachecast checkout."""
    found = [project_root(), CHECKOUT]
    return list(dict.fromkeys(p for p in found if p is not None))


def locate(path: str | Path | None) -> Path | None:
    """`path` as given when it exists (or is absolute), else under the first root where it
    exists, else as given (so the error names what the user wrote)."""
    if path is None or path == "":
        return None
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    for root in roots():
        if (root / p).exists():
            return root / p
    return p


@lru_cache(maxsize=4)
def _temporary_folders(tmpdir: str) -> tuple[Path, ...]:
    folders = {Path(tmpdir), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")}
    return tuple(sorted({f for p in folders for f in (p, p.resolve())}, key=lambda f: -len(str(f))))


def temporary_folders() -> tuple[Path, ...]:
    return _temporary_folders(tempfile.gettempdir())


def _under(path: Path, folder: Path | None) -> Path | None:
    if folder is None:
        return None
    for base in dict.fromkeys((folder, folder.resolve())):
        try:
            return path.relative_to(base)
        except ValueError:
            continue
    return None


def shown_path(path: str | Path | None, *, config_dir: str | Path | None = None) -> str:
    """How `path` appears in a report (see the module docstring); "" for None."""
    if path is None or path == "":
        return ""
    p = Path(os.path.abspath(Path(path).expanduser()))
    for folder in (*roots(), Path(config_dir).absolute() if config_dir else None):
        rel = _under(p, folder)
        if rel is not None:
            return rel.as_posix() if rel.parts else "."
    if any(_under(p, t) is not None for t in temporary_folders()):
        return TEMPORARY
    rel = _under(p, Path.home())
    if rel is not None and Path.home() != Path("/"):
        return "~/" + rel.as_posix() if rel.parts else "~"
    tail = p.parts[-2:] if len(p.parts) > 2 else p.parts[1:]
    return f"{OUTSIDE}/" + "/".join(tail)


def _prefixes() -> list[Path]:
    """Folders whose absolute paths `scrub` rewrites, longest first (so a project under the
    home folder is shown relative to the project, not as ~/...)."""
    found = {*roots(), *temporary_folders(), Path.home()}
    return sorted((p for p in found if str(p) not in ("/", "")), key=lambda p: -len(str(p)))


_PATH_TAIL = r"(?:/[^\s\"'<>`,;()\[\]{}|]*)?"


def scrub(text: str, *, config_dir: str | Path | None = None) -> str:
    """`text` with every absolute path under a known folder (the project, a temporary
    folder, the home folder) replaced by how shown_path shows it."""
    if not text or "/" not in text:
        return text
    for prefix in _prefixes():
        pattern = re.compile(r"(?<![\w.~/-])" + re.escape(str(prefix)) + r"(?![\w.-])" + _PATH_TAIL)
        text = pattern.sub(lambda m: shown_path(m.group(0).rstrip(".:"), config_dir=config_dir)
                           + m.group(0)[len(m.group(0).rstrip(".:")):], text)
    return text
