"""An index of the runs folder, <workspace>/runs/.index.sqlite, so `seqcast runs` stays fast with many runs.

The index is a cache and never the truth: the run folders are. It holds, per run id, the row
`seqcast runs` lists and a fingerprint of what that row was read from (the folder's and its
config.json / meta.json / metrics.json's inode, size and modification time, by lstat: no link
followed). A run whose fingerprint differs, a new run folder, a removed one, a file that is a link
or not a plain file, an unreadable row: each is read from its folder again, as without an index.
The index file is read through seqcast.fileio's safe reads (a regular file, no link followed, size
capped) into an in-memory SQLite database, and written whole, atomically (a temporary file and a
rename): a crash mid-write leaves the old index or none, never half of one. A corrupt or foreign
file, or one of another format, is ignored and replaced; an index that cannot be written (a
read-only workspace) only costs speed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast import fileio
from seqcast.errors import SeqcastError

if TYPE_CHECKING:
    from seqcast.runs.registry import Run, RunStore

INDEX_NAME = ".index.sqlite"
FORMAT = "seqcast-runs-index/1"
"""Bump when listing_row's fields change: an index of another format is rebuilt."""
MAX_INDEX_BYTES = 512 * fileio.MB
LISTED_FILES = ("config.json", "meta.json", "metrics.json")
"""What listing_row reads: a change to any of them (an atomic rewrite is a new inode) re-reads the run."""


def listing_row(run: Run) -> dict[str, Any]:
    """One run as `seqcast runs` lists it (`--json` prints these); {"run_id", "error"} when unreadable."""
    try:
        cfg, m, meta = run.config, run.metrics, run.meta
        inputs = [*cfg.data.covariates, *cfg.data.features]
    except SeqcastError as exc:
        return {"run_id": run.run_id, "error": str(exc)}
    test = m.get("test", {})
    return {
        "run_id": run.run_id, "model": cfg.model.kind, "symbol": meta.get("symbol"),
        "target": cfg.data.target, "inputs": inputs,
        "rmse": test.get("rmse"), "naive_rmse": test.get("naive_rmse"),
        "rmse_ratio": test.get("rmse_ratio"), "verdict": m.get("verdict"),
        "epochs": meta.get("training", {}).get("epochs_run"),
        "seconds": meta.get("training", {}).get("seconds"),
        "path": str(run.path),
    }


def fingerprint(folder: Path) -> str | None:
    """The folder's and its listed files' (inode, size, mtime_ns) by lstat; None when one is
    missing, a link or not a plain file (such a run is never served from the index)."""
    parts: list[int] = []
    try:
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode):
            return None
        parts += (info.st_ino, info.st_mtime_ns)
        for name in LISTED_FILES:
            info = os.lstat(folder / name)
            if not stat.S_ISREG(info.st_mode):
                return None
            parts += (info.st_ino, info.st_size, info.st_mtime_ns)
    except OSError:
        return None
    return ",".join(map(str, parts))


def read_index(path: Path) -> dict[str, tuple[str, str]]:
    """run id -> (fingerprint, row as JSON) from the index file; {} when it is missing, a link, not a
    plain file, too large, corrupt, foreign or of another format."""
    try:
        data = fileio.read_bytes(path, max_bytes=MAX_INDEX_BYTES)
    except OSError:  # FileNotFoundError, fileio.RefusedFile (a link, a folder, too large), EACCES
        return {}
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(data)
        found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if found is None or found[0] != FORMAT:
            return {}
        entries: dict[str, tuple[str, str]] = {}
        for run_id, print_, row in db.execute("SELECT run_id, fingerprint, row FROM runs"):
            if isinstance(run_id, str) and isinstance(print_, str) and isinstance(row, str):
                entries[run_id] = (print_, row)
        return entries
    except (sqlite3.Error, ValueError, OverflowError, MemoryError):
        return {}
    finally:
        db.close()


def write_index(path: Path, entries: dict[str, tuple[str, str]]) -> None:
    """The whole index written atomically (fileio.write_bytes: a temporary file, then a rename)."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, row TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
        db.executemany("INSERT INTO runs VALUES (?, ?, ?)", [(k, p, r) for k, (p, r) in sorted(entries.items())])
        db.commit()
        data = db.serialize()
    finally:
        db.close()
    fileio.write_bytes(path, data)


def listing(store: RunStore) -> list[dict[str, Any]]:
    """listing_row of every complete run, oldest first: what a scan of the folders gives, read from the
    index where a run's fingerprint is unchanged; the index is brought up to date when it was not."""
    from seqcast.runs.registry import Run

    ids = store.ids()
    path = store.root / INDEX_NAME
    old = read_index(path) if ids else {}
    new: dict[str, tuple[str, str]] = {}
    rows: list[dict[str, Any]] = []
    for run_id in ids:
        folder = store.root / run_id
        print_ = fingerprint(folder)  # taken before the files are read: a change meanwhile is seen next time
        cached = old.get(run_id)
        row: dict[str, Any] | None = None
        hit = print_ is not None and cached is not None and cached[0] == print_
        if hit and cached is not None:
            try:
                loaded = json.loads(cached[1])
                row = {**loaded, "path": str(folder)} if isinstance(loaded, dict) else None
            except ValueError:
                row = None
            if row is not None and row.get("run_id") != run_id:
                row = None
        if row is None:
            hit = False
            row = listing_row(Run(run_id, folder))
        if print_ is not None and "error" not in row:
            new[run_id] = (print_, cached[1] if hit and cached is not None
                           else json.dumps({k: v for k, v in row.items() if k != "path"}))
        rows.append(row)
    if new != old and (new or os.path.lexists(path)):
        try:
            write_index(path, new)
        except (SeqcastError, OSError, sqlite3.Error):
            pass  # a read-only or full workspace: the listing is right, only slower next time
    return rows
