"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import os
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
    from seqcast.safeio import dumps

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
