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
"""The next step after a failed write in the workspace when nothing more specific fits."""

_NOT_A_FOLDER = "a part of the path is a file, not a folder: choose another path"
_PERMISSION = ("permission denied: make the folder writable, or choose another path "
               "(another workspace: --home or SEQCAST_HOME)")
_HINTS = {
    errno.EISDIR: "give a file name, not a folder (one inside it, for example)",
    errno.ENAMETOOLONG: "a name in the path is longer than the file system allows (usually 255 bytes): "
                        "choose a shorter one",
    errno.ENOENT: "a folder in the path does not exist (or was removed meanwhile): create it or choose another path",
    errno.ENOTDIR: _NOT_A_FOLDER,
    errno.EEXIST: _NOT_A_FOLDER,  # mkdir of a file's name
    errno.EACCES: _PERMISSION,
    errno.EPERM: _PERMISSION,
    errno.EROFS: "the file system is read-only: choose another path (another workspace: --home or SEQCAST_HOME)",
    errno.ENOSPC: "free some disk space, or use another workspace (--home or SEQCAST_HOME)",
}
_FD_ALIASES = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")
"""Links that name a file descriptor of this process: written in place, whatever they point to."""


def write_hint(exc: OSError) -> str:
    """The next step that fits why a write failed; WRITE_HINT when nothing more specific does."""
    return _HINTS.get(exc.errno or 0, WRITE_HINT)


def make_folder(path: Path) -> None:
    """mkdir -p path; WorkspaceError (one line: a file in the way, permission, ...) when it cannot be."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"cannot create the folder {path}: {exc.strerror or exc}; {write_hint(exc)}") from None


def write_bytes(path: Path, data: bytes) -> None:
    """Write data to path: a regular file (or none yet) is replaced atomically, through a temporary file
    in the same folder and a rename; a character device or a FIFO (/dev/null, a pipe, what /dev/stdout
    names) is written in place; anything else (a folder, a block device, a socket, a link to a regular
    file) is refused in one line, WorkspaceError. A rename never replaces anything but a regular file."""
    path = Path(path)
    info = _lstat(path)
    if info is not None and stat.S_ISLNK(info.st_mode):
        target = _lstat(path, follow=True)
        if target is None:
            raise WorkspaceError(f"cannot write {path}: it is a symbolic link to nothing; give the file's own path")
        if stat.S_ISREG(target.st_mode) and not str(path).startswith(_FD_ALIASES):
            raise WorkspaceError(f"cannot write {path}: it is a symbolic link, which seqcast does not write "
                                 "through (it would not replace the link either); give the file's own path")
        _write_in_place(path, data, target.st_mode)
        return
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise WorkspaceError(f"cannot write {path}: it is a folder; {_HINTS[errno.EISDIR]}")
    if info is not None and not stat.S_ISREG(info.st_mode):
        _write_in_place(path, data, info.st_mode)
        return
    _write_atomic(path, data)


def _lstat(path: Path, follow: bool = False) -> os.stat_result | None:
    """os.lstat (os.stat when follow), None when nothing is there; WorkspaceError for a path that cannot be."""
    try:
        return os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ENOTDIR (a file in the path), EACCES, ELOOP, ENAMETOOLONG
        raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}; {write_hint(exc)}") from None


def _write_in_place(path: Path, data: bytes, mode: int) -> None:
    """Write into what path names as it is: a character device or a FIFO with a reader (no rename)."""
    if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
        raise WorkspaceError(f"cannot write {path}: it is {_kind(mode)}; seqcast writes only to a regular file, "
                             "a character device or a pipe: choose another path")
    flags = os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_APPEND if stat.S_ISREG(mode) else 0  # /dev/stdout to a file: after what is there
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO that no process reads: opening it would wait forever
            raise WorkspaceError(f"cannot write {path}: it is a FIFO (named pipe) that no process is reading; "
                                 "start the reader first, or choose another path") from None
        raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}; {write_hint(exc)}") from None
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a reader is there: wait for it rather than fail on a full pipe
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}; {write_hint(exc)}") from None
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """A regular file (or none) at path replaced by data: a temporary file in the same folder, then a rename."""
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
        info = _lstat(path)
        if info is not None and not stat.S_ISREG(info.st_mode):  # replaced meanwhile by something else
            raise WorkspaceError(f"cannot write {path}: it became {_kind(info.st_mode)} while it was written; "
                                 "seqcast replaces only regular files")
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
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"),
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


MAX_CONFIG_BYTES = 1 * MB
"""A --config file is a few hundred bytes; one of more than a megabyte is not a config file."""
MAX_CONFIG_DEPTH = 8
"""option = [values] is two levels; deeper is no seqcast config (and would recurse)."""


def read_toml(path: Path | str) -> dict[str, Any]:
    """A TOML file the user named (a link the user chose is followed), of at most MAX_CONFIG_BYTES
    and nested at most MAX_CONFIG_DEPTH deep: a dict of its keys.

    OSError (RefusedFile for a FIFO, a device such as /dev/zero or a file too large: never a hang),
    ValueError for what is not such TOML (its message says why), ImportError without a TOML parser.
    """
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    text = read_bytes(path, max_bytes=MAX_CONFIG_BYTES, follow_links=True).decode("utf-8")
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from None
    if depth(raw) > MAX_CONFIG_DEPTH:
        raise ValueError(f"nested more than {MAX_CONFIG_DEPTH} levels deep")
    return raw


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
