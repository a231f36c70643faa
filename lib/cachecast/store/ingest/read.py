"""Reading a results file: plain or gzip (streamed when clean, bounded against decompression
bombs), other formats named in one sentence, and the sanitizer that gives DuckDB exactly one row
per physical line (damaged lines become placeholders kept for quarantine)."""
from __future__ import annotations

import codecs
import glob
import hashlib
import sys
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

import duckdb

from ..._paths import regular_file
from ...errors import InputError

BLOCK = 4 << 20  # sanitizer block; only a damaged block is split into lines

SAMPLE = 1 << 20  # fingerprint: size + first and last MiB

MAX_LINE = 16 << 20  # longer lines are quarantined (DuckDB's reader is told to accept this)

PROGRESS_MIN_BYTES = 64 << 20

GZIP_MAGIC = b"\x1f\x8b"

# Formats ingest does not read, named in one sentence (they used to be read as text and every
# line quarantined as "NUL bytes"): (magic at offset 0, what it is, what to do)
OTHER_FORMATS = (
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it first (zstd -d) or gzip it"),
    (b"BZh", "bzip2-compressed", "decompress it first (bunzip2) or gzip it"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (unxz) or gzip it"),
    (b"PK\x03\x04", "a zip archive", "extract the .jsonl file(s) from it"),
    (b"\xff\xfe\x00\x00", "UTF-32 text", "convert it to UTF-8 (iconv -f UTF-32 -t UTF-8)"),
    (b"\xff\xfe", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"),
    (b"\xfe\xff", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"),
    (b"{\x00", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16LE -t UTF-8)"),
    (b"\x00{", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16BE -t UTF-8)"),
)

# A decompression bomb stops with one sentence (issue 14, class 8: a 6 MB gzip of newlines
# used 10.6 GB of memory, then filled the disk). Results JSON compresses about 5-20x; past
# GZIP_RATIO_FROM decompressed bytes a ratio above GZIP_MAX_RATIO, or more than
# GZIP_MAX_BYTES in all, is refused before anything is stored.
GZIP_MAX_RATIO = 200

GZIP_RATIO_FROM = 64 << 20

GZIP_MAX_BYTES = 64 << 30

PLACEHOLDER = b"{}"  # stands in for a damaged line; its reason comes from `replaced`


@dataclass
class _Source:
    """What DuckDB reads: the file itself, or a sanitized/decompressed copy."""

    path: Path
    fingerprint: str
    size: int
    ends_with_newline: bool
    sanitized: bool = False
    bom: bool = False  # starts with a UTF-8 byte-order mark (DuckDB would keep it in line 1)
    gzip: bool = False  # `path` is a clean .gz DuckDB reads (and Python re-reads) as a stream
    lines: int | None = None  # physical lines, known once sanitized
    replaced: list[tuple[int, str, str]] = field(default_factory=list)  # (line_no, reason, text)


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the results file(s) inside it")
    if not path.exists():
        raise InputError(f"{path}: file not found")
    regular_file(path, "results (.jsonl)")  # a FIFO would hang the ingest, /dev/zero fill the memory


def content_id(path: Path) -> str:
    """Identifies a manifest by its whole content, read in blocks (it can be hundreds of MB):
    sha256 over its size, first and last MiB and the CRC-32 of every byte. A full sha256
    cost 0.2 s per 200k rows; this finds any accidental change for a tenth of it. The blocks
    go through one buffer, and the last MiB is read again at the end rather than carried."""
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE)
        crc, size = zlib.crc32(head), len(head)
        while n := fh.readinto(buf):
            crc = zlib.crc32(view[:n], crc)
            size += n
        fh.seek(max(0, size - SAMPLE))
        tail = fh.read(SAMPLE)
    return _fingerprint(size, head + f":{crc:08x}".encode(), tail)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        magic = fh.read(8)
    _refuse_other_format(path, magic)
    magic = magic[:2]
    if path.suffix == ".gz" and magic != GZIP_MAGIC and magic:
        raise InputError(f"{path}: named .gz but is not a gzip file")
    return magic == GZIP_MAGIC


def _refuse_other_format(path: Path, head: bytes) -> None:
    """One sentence naming a compressed or non-UTF-8 format rather than a file of
    quarantined lines."""
    for magic, what, todo in OTHER_FORMATS:
        if head.startswith(magic):
            raise InputError(f"{path}: is {what}, which ingest does not read; {todo} (plain or .gz JSON lines)")


def _plain(path: Path) -> _Source:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE)
        fh.seek(max(0, size - SAMPLE))
        tail = fh.read(SAMPLE)
    return _Source(path=path, fingerprint=_fingerprint(size, head, tail), size=size,
                   ends_with_newline=tail.endswith(b"\n"), bom=head.startswith(b"\xef\xbb\xbf"))


def read_to_end(src: _Source, tmp: Path, show: bool) -> _Source:
    """`src`, or, for a file whose stat size is 0 but which has content when read (files under
    /proc, some FUSE mounts), a copy read to its end through the sanitizer. DuckDB sizes what
    it reads by stat, so such a file was "0 lines read", rc 0, whatever it held. The copy is
    bounded like a decompressed file (GZIP_MAX_BYTES)."""
    if src.size or src.gzip:
        return src
    with open(src.path, "rb") as fh:
        if not fh.read(1):
            return src  # empty indeed
    probe = _Source(path=src.path, fingerprint="", size=0, ends_with_newline=True)
    return _sanitize(_bounded_blocks(src.path), tmp / "read-to-end.jsonl", probe, show, src.path.name)


def _bounded_blocks(path: Path) -> Iterator[bytes]:
    read = 0
    with open(path, "rb") as fh:
        for block in _blocks(fh):
            read += len(block)
            if read > GZIP_MAX_BYTES:
                raise InputError(f"{path}: its size on disk is 0 but reading it gives more than "
                                 f"{GZIP_MAX_BYTES >> 30} GiB; refused (is it a results file?)")
            yield block


def _fingerprint(size: int, head: bytes, tail: bytes) -> str:
    return hashlib.sha256(f"{size}:".encode() + head + b":" + tail).hexdigest()[:32]


def _read_blocks(path: Path, gz: bool) -> Iterator[bytes]:
    """The file's bytes in blocks, decompressed when it is a streamed .gz."""
    if gz:
        yield from _gzip_blocks(path)
        return
    with open(path, "rb") as fh:
        yield from _blocks(fh)


def _gzip_stream(path: Path) -> _Source | None:
    """A .gz whose content needs no sanitizing is read by DuckDB as it is (streamed, no
    temporary copy: issue 14, class 8); one bounded pass here finds its size, fingerprint
    and whether it is clean. None: it needs the sanitizer (CR, NUL, empty or over-long
    lines, invalid UTF-8, a BOM, a cut or corrupt stream), which writes the copy."""
    if path.suffix.lower() != ".gz":
        return None  # DuckDB recognises gzip by the name
    utf8 = codecs.getincrementaldecoder("utf-8")()
    size, head, tail, last, line_len, clean = 0, b"", b"", b"\n", 0, True
    try:
        for block in _gzip_blocks(path):  # read to the end even when not clean: the bomb limits
            clean = clean and _clean_gzip_block(block, size, last, line_len, utf8)
            newline = block.rfind(b"\n")
            line_len = line_len + len(block) if newline < 0 else len(block) - newline - 1
            head += block[: max(0, SAMPLE - len(head))]
            tail = (tail + block)[-SAMPLE:]
            size += len(block)
            last = block[-1:]
        utf8.decode(b"", final=True)
    except (_GzipCut, UnicodeDecodeError):
        return None
    if not clean:
        return None
    return _Source(path=path, fingerprint=_fingerprint(size, head, tail), size=size,
                   ends_with_newline=last == b"\n", gzip=True)


def _clean_gzip_block(block: bytes, size: int, last: bytes, line_len: int, utf8) -> bool:
    """The sanitizer's checks, on a stream: no CR, NUL, empty line, BOM, invalid UTF-8
    (decoded incrementally) or line over MAX_LINE (`line_len`: bytes since the last newline)."""
    if (b"\r" in block or b"\x00" in block or b"\n\n" in block or (last == b"\n" and block[:1] == b"\n")
            or (size == 0 and block.startswith(b"\xef\xbb\xbf"))):
        return False
    try:
        utf8.decode(block)
    except UnicodeDecodeError:
        return False
    first = block.find(b"\n")
    if line_len + (len(block) if first < 0 else first) > MAX_LINE:
        return False
    return first < 0 or len(block) - block.rfind(b"\n") - 1 <= MAX_LINE


def _gunzip(path: Path, tmp: Path, show: bool) -> _Source:
    """Decompress through the sanitizer; a stream cut short keeps its complete lines and
    quarantines the cut."""
    probe = _Source(path=path, fingerprint="", size=0, ends_with_newline=True)
    return _sanitize(_gzip_blocks(path), tmp / "decompressed.jsonl", probe, show, path.name)


class _GzipCut(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _gzip_blocks(path: Path) -> Iterator[bytes]:
    """Decompressed blocks of at most BLOCK bytes, yielding everything readable before a cut
    or a corrupt spot (gzip.GzipFile.read would drop the tail it had already decompressed).
    Concatenated gzip members are read one after the other, as gunzip does. Output is bounded
    per call and checked against the bomb limits (_check_bomb) as it grows."""
    decomp = zlib.decompressobj(wbits=31)
    read = written = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            read += len(chunk)
            while True:
                try:
                    out = decomp.decompress(chunk, BLOCK)
                except zlib.error as exc:
                    raise _GzipCut(f"gzip data corrupt ({exc})") from None
                chunk = decomp.unconsumed_tail
                if out:
                    written += len(out)
                    _check_bomb(path, read, written)
                    yield out
                if chunk or len(out) == BLOCK:
                    continue  # more output is waiting for this input
                if decomp.eof and decomp.unused_data:
                    chunk = decomp.unused_data  # the next gzip member
                    decomp = zlib.decompressobj(wbits=31)
                    continue
                break
    if not decomp.eof:
        raise _GzipCut("gzip stream cut short")


def _check_bomb(path: Path, read: int, written: int) -> None:
    if written > GZIP_MAX_BYTES:
        raise InputError(f"{path}: decompresses to more than {GZIP_MAX_BYTES >> 30} GiB; refused as a decompression "
                         "bomb (split the results into smaller files)")
    if written >= GZIP_RATIO_FROM and written > GZIP_MAX_RATIO * read:
        raise InputError(f"{path}: decompresses to more than {GZIP_MAX_RATIO}x its size ({read:,} bytes give over "
                         f"{written:,}); refused as a decompression bomb (results JSON compresses about 10x)")


def _blocks(fh: IO[bytes]) -> Iterator[bytes]:
    while True:
        block = fh.read(BLOCK)
        if not block:
            return
        yield block


def _sanitize(blocks: Iterator[bytes], out: Path, src: _Source, show: bool, label: str) -> _Source:
    """Copy `blocks` to `out` so that DuckDB's reader sees exactly one row per physical line:
    empty lines become a single space (counted as blank), CRLF becomes LF, and a line with
    invalid UTF-8, NUL bytes or over MAX_LINE bytes becomes a placeholder whose reason and
    text are kept in `replaced` for quarantine. Clean blocks are copied as they are."""
    replaced: list[tuple[int, str, str]] = []
    lines = size = 0
    head = tail = carry = b""
    skipping = False  # inside an over-long line that was already replaced
    bar = _bar(show, label, "sanitize")
    with open(out, "wb") as fh:
        try:
            for block in blocks:
                size += len(block)
                head += block[: max(0, SAMPLE - len(head))]
                tail = (tail + block)[-SAMPLE:]
                if bar:
                    bar.update(len(block))
                if skipping:
                    end = block.find(b"\n")
                    if end < 0:
                        continue
                    block, skipping = block[end + 1:], False
                data = carry + block
                cut = data.rfind(b"\n") + 1
                carry = data[cut:]
                if cut:
                    lines += _write_lines(fh, data[:cut], lines, replaced, first=lines == 0)
                if len(carry) > MAX_LINE:
                    lines += _write_lines(fh, carry + b"\n", lines, replaced, first=lines == 0)
                    carry, skipping = b"", True
        except _GzipCut as cut_short:
            text = "" if skipping else carry.decode("utf-8", "replace")[:1000]
            replaced.append((lines + 1, f"{cut_short.reason}: the file ends here; this line and anything "
                                        "after it are unreadable", text))
            fh.write(PLACEHOLDER + b"\n")
            lines += 1
            carry = b""
        if carry:
            lines += _write_lines(fh, carry + b"\n", lines, replaced, first=lines == 0)
    if bar:
        bar.close()
    fingerprint = src.fingerprint or _fingerprint(size, head, tail)
    return _Source(path=out, fingerprint=fingerprint, size=size, ends_with_newline=True, sanitized=True,
                   lines=lines, replaced=replaced)


def _write_lines(fh: IO[bytes], block: bytes, before: int, replaced: list, *, first: bool) -> int:
    """Write a block of whole lines (each ending in \\n) as DuckDB should read it; returns
    how many lines it holds. Only a block that fails the cheap checks is split into lines."""
    if first and block.startswith(b"\xef\xbb\xbf"):
        block = block[3:]
    count = block.count(b"\n")
    if _clean(block):
        fh.write(block)
        return count
    for offset, line in enumerate(block[:-1].split(b"\n")):
        fh.write(_fix_line(line, before + offset + 1, replaced) + b"\n")
    return count


def _clean(block: bytes) -> bool:
    if b"\x00" in block or b"\r" in block or b"\n\n" in block or block.startswith(b"\n"):
        return False
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return len(block) <= MAX_LINE or max(len(x) for x in block.split(b"\n")) <= MAX_LINE


def _fix_line(line: bytes, line_no: int, replaced: list) -> bytes:
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip():
        return b" "
    reason = None
    if len(line) > MAX_LINE:
        reason = f"line longer than {MAX_LINE:,} bytes"
    elif b"\x00" in line:
        reason = "contains NUL bytes"
    else:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not valid UTF-8 (byte {exc.start + 1})"
    if reason is None:
        return line.replace(b"\r", b" ")  # a lone CR would end the line for DuckDB's reader
    text = line[:4000].decode("utf-8", "replace").replace("\x00", "\ufffd")
    replaced.append((line_no, reason, text))
    return PLACEHOLDER


def _progress_wanted(progress: bool | None, size: int) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES


def _bar(show: bool, label: str, stage: str):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(desc=f"{stage} {label}", unit="B", unit_scale=True, file=sys.stderr, leave=False)


@contextmanager
def _query_progress(conn: duckdb.DuckDBPyConnection, show: bool, label: str):
    """A tqdm bar fed by DuckDB's own progress estimate of the running query."""
    if not show:
        yield
        return
    from tqdm import tqdm

    bar = tqdm(total=100, desc=label, unit="%", file=sys.stderr, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            value = conn.query_progress()
            if value is not None and value >= 0:
                bar.n = min(100.0, float(value))
                bar.refresh()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        bar.close()


def literal_path(path: Path, tmp: Path) -> Path:
    """A path DuckDB reads as this very file. DuckDB expands glob characters in every path it
    reads, so r47[1].jsonl would load r471.jsonl (issue 14, class 7): such a path is read
    through a symlink in `tmp` (a directory without them), with the same compression suffix."""
    if not glob.has_magic(str(path)):
        return path
    if glob.has_magic(str(tmp)):
        raise InputError(f"{path}: its name has glob characters and so has the temporary directory {tmp}; "
                         "rename the file (or set TMPDIR)")
    link = tmp / ("literal.jsonl.gz" if path.suffix.lower() == ".gz" else "literal.jsonl")
    link.unlink(missing_ok=True)
    link.symlink_to(path.resolve())
    return link


def _temp_dir(conn: duckdb.DuckDBPyConnection) -> str | None:
    """Sanitized copies go next to the database (not /tmp, which may be RAM-backed)."""
    try:
        row = conn.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    except duckdb.Error:
        return None
    if row and row[0]:
        parent = Path(row[0]).parent
        return str(parent) if parent.is_dir() and not glob.has_magic(str(parent)) else None
    return None
