"""Files seqcast writes and files it reads on a user's behalf.

Writes are atomic: a reader sees the old file or the new one, never half of one.

Reads are safe: files in the workspace are data that anyone may have replaced: a symbolic
link to /dev/zero, a FIFO that never ends, a multi-GB file. read_bytes() opens without
following links (O_NOFOLLOW) and without blocking (O_NONBLOCK), reads only a regular file,
and only up to a size cap. A file named on the command line may be a link the user chose
(follow_links=True), but never a FIFO or a device.

JSON written by seqcast is strict (RFC 8259): NaN and infinities become null.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from seqcast.errors import WorkspaceError

WRITE_HINT = ("free some disk space, make the folder writable, or use another workspace "
              "(--home or SEQCAST_HOME)")
"""The next step after a failed write in the workspace (no space, no permission, ...)."""

_HINTS = {
    errno.EISDIR: "give a file name, not a folder (one inside it, for example)",
    errno.ENAMETOOLONG: "a name in the path is longer than the file system allows (usually 255 bytes): "
                        "choose a shorter one",
    errno.ENOENT: "a folder in the path does not exist (or was removed meanwhile): create it or choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EEXIST: "a part of the path is a file, not a folder: choose another path",  # mkdir of a file's name
}


def write_hint(exc: OSError) -> str:
    """The next step that fits why a write failed; WRITE_HINT when nothing more specific does."""
    return _HINTS.get(exc.errno or 0, WRITE_HINT)


def write_bytes(path: Path, data: bytes) -> None:
    """Write data to path through a temporary file in the same folder and a rename."""
    path = Path(path)
    # Checked first: the folder it is in may not be writable, which would hide this (os.path never raises).
    if os.path.isdir(path):
        raise WorkspaceError(f"cannot write {path}: it is a folder; {_HINTS[errno.EISDIR]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WorkspaceError(f"cannot write to {path.parent}: {exc.strerror or exc}; {write_hint(exc)}") from exc
    try:
        # mkstemp creates the file 0600; a file created by open() gets 0666 less the umask.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        # KeyboardInterrupt included: never leave the temporary file behind.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}; {write_hint(exc)}") from exc
        raise


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Write obj as indented, strict JSON atomically (NaN and infinities as null)."""
    from seqcast.fileio import dumps

    write_text(path, dumps(obj) + "\n")


def _umask() -> int:
    """The process's umask (read from /proc where it can be, so it is never changed)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask

MB = 1024 * 1024
MAX_JSON_BYTES = 64 * MB
"""A run's or the store's JSON file is a few kB; a larger one is not ours."""
MAX_CSV_BYTES = 100 * MB
"""100 MB is decades of minute bars; a daily price file is < 1 MB."""


class RefusedFile(OSError):
    """A path that is not a regular file, is a symbolic link where none is followed, or is too large.

    An OSError, so code that reports unreadable files reports these the same way;
    strerror says why in words.
    """


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def size_text(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.0f} MB" if n_bytes >= 10**6 else f"{n_bytes:,} bytes"


def read_bytes(path: Path | str, *, max_bytes: int, follow_links: bool = False) -> bytes:
    """The bytes of a regular file of at most max_bytes; RefusedFile (an OSError) otherwise.

    FileNotFoundError and other OSErrors pass through unchanged.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        # O_NOFOLLOW on a link: ELOOP (Linux, macOS) or EMLINK (FreeBSD).
        if not follow_links and exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise RefusedFile(errno.ELOOP, "is a symbolic link, which seqcast does not follow here",
                              str(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile(errno.EINVAL, f"is {_kind(info.st_mode)}, not a regular file", str(path))
        if info.st_size > max_bytes:
            raise RefusedFile(errno.EFBIG, f"is {size_text(info.st_size)}, more than the "
                              f"{size_text(max_bytes)} such a file can be", str(path))
        chunks, total = [], 0
        while True:  # the file may grow while it is read: never read past the cap
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise RefusedFile(errno.EFBIG, f"is more than the {size_text(max_bytes)} such a file "
                                  "can be", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def loads(text: str | bytes) -> Any:
    """json.loads with every failure a ValueError (a deeply nested document included)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def depth(obj: Any) -> int:
    """How deeply lists and objects nest in obj (0 for a scalar); iterative, so never a RecursionError."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def read_json(path: Path | str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file read with read_bytes(); OSError or ValueError when it cannot be."""
    return loads(read_bytes(path, max_bytes=max_bytes).decode("utf-8"))


def strict(obj: Any) -> Any:
    """obj with every float NaN or infinity (numpy scalars too) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if hasattr(obj, "item") and hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0:
        return strict(obj.item())  # numpy scalar
    return obj


def _fallback(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays
        return strict(obj.tolist())
    return str(obj)


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Strict JSON (RFC 8259): NaN and infinities as null; anything else unknown as its str()."""
    return json.dumps(strict(obj), indent=indent, allow_nan=False, default=_fallback)
