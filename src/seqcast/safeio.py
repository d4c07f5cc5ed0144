"""Reading files that seqcast did not necessarily write, and writing strict JSON.

Files in the workspace are data that anyone may have replaced: a symbolic link to
/dev/zero, a FIFO that never ends, a multi-GB file. read_bytes() opens without
following links (O_NOFOLLOW) and without blocking (O_NONBLOCK), reads only a
regular file, and only up to a size cap. A file named on the command line may be a
link the user chose (follow_links=True), but never a FIFO or a device.

JSON written by seqcast is strict (RFC 8259): NaN and infinities become null.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

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
