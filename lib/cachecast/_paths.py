"""Input paths must be regular files.

A FIFO given as an input blocks the first read forever (nobody writes to it), and a device
such as /dev/zero or /dev/urandom never ends, so a reader that trusts "it exists" either
hangs or fills memory. Every input cachecast reads (configs, prompts, items, request and
result files, manifests, price overrides, the store) goes through one of these two checks
first; both say in one sentence what the path is instead.

`regular_file` is the cheap check by path (a stat); `open_regular` opens without blocking
and checks the opened descriptor, so a path swapped for a FIFO between the check and the
open is still refused.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import InputError


def describe_mode(mode: int) -> str | None:
    """What a non-regular file is, in a user's words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_regular(path: str | Path, what: str) -> str | None:
    """The reason `path` cannot be read as `what` (one sentence), or None when it is a
    regular file. A missing path is not this function's business (None): callers keep
    their own "not found" wording, which names the config key or the command."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    kind = describe_mode(mode)
    if kind is None:
        return None
    return f"{path}: is {kind}, not a regular file; give a {what} file"


def regular_file(path: str | Path, what: str, error: type[Exception] = InputError) -> Path:
    """`path` as a Path when it is a regular file (or missing); else `error` with one
    sentence. Symlinks are followed: a link to a regular file is fine."""
    problem = not_regular(path, what)
    if problem:
        raise error(problem)
    return Path(path)


def open_regular(path: str | Path, what: str, error: type[Exception] = InputError) -> BinaryIO:
    """Open `path` for binary reading, refusing anything but a regular file. O_NONBLOCK
    makes opening a FIFO return at once (a plain open waits for a writer); the check is on
    the opened descriptor, so what is read is what was checked."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO some systems refuse to open this way
            raise error(f"{path}: is not a regular file; give a {what} file") from None
        raise
    try:
        kind = describe_mode(os.fstat(fd).st_mode)
        if kind is not None:
            raise error(f"{path}: is {kind}, not a regular file; give a {what} file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def repository_root(config: Path) -> Path:
    """The folder a config belongs to: the nearest parent holding .git (a directory, or a
    file in a worktree), else the config's own directory."""
    return folder_root(Path(config).resolve().parent)


def folder_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding .git, else `start` itself."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def outside_root(path: Path, *roots: Path) -> Path | None:
    """`path` resolved (symlinks followed) when it lies outside every one of `roots`, else
    None: a link inside the repository that points at ~/.ssh reads ~/.ssh."""
    target = Path(path).resolve()
    return None if any(target.is_relative_to(root) for root in roots) else target


_WARNED: set[str] = set()


def warn_once(sentence: str) -> None:
    """One line on stderr, once per process: a config loaded by every command of a
    notebook session should not repeat itself."""
    import sys

    if sentence in _WARNED:
        return
    _WARNED.add(sentence)
    print(f"cachecast: warning: {sentence}", file=sys.stderr)
