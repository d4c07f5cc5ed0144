"""Bulk import: every daily price file of a folder or a .zip, one stored series per file.

Reads stooq's bulk database (`data/daily/<market>/<group>/<ticker>.txt`, header
`<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>`) and folders of
ordinary CSV files. The symbol is the file's <TICKER> (stooq) or its name less the suffix.
Files that are not daily (stooq's hourly and 5-minute folders, <PER> W or M, weekly dates) are
skipped and counted; a file that cannot be read is refused with its reason; the others are
merged into the store one by one (Store.fetch: atomic, under the series' lock).

A zip is read member by member in memory, never extracted: a member whose name climbs out of
the archive (`..`, an absolute path) is refused, and so are members over the size of a price
file, an archive whose members would unpack to more than MAX_TOTAL_BYTES, and members
compressed more than MAX_RATIO to one (a zip bomb).
"""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from seqcast import fileio
from seqcast.errors import ConfigError, CSVFormatError, DataError, SeqcastError

if TYPE_CHECKING:
    import pandas as pd

    from seqcast.data.sources import FetchRequest, FetchResult
    from seqcast.data.store import StoredSeries
    from seqcast.workspace import Workspace

__all__ = ["BulkResult", "import_folder", "is_bulk_path"]

MAX_FILES = 100_000
"""Files one import reads at most (stooq's whole database is ~60,000)."""
MAX_TOTAL_BYTES = 8 * 1024**3
"""What a zip's members may unpack to in all."""
MAX_RATIO = 200
"""A member compressed more than this to one (and over 1 MB unpacked) is a zip bomb; CSV reaches ~10."""
SUFFIXES = (".txt", ".csv", ".prn", ".tsv")
_NOT_DAILY_DIR = re.compile(r"^(hourly|5[ _-]?min(ute)?s?|1[ _-]?min|intraday|weekly|monthly|h1|m5|m1)$", re.I)
_STOOQ_PER = re.compile(rb"^<TICKER>[,;]<PER>", re.I)


@dataclass
class BulkResult:
    """What a bulk import did: the series stored, the files skipped (not daily) and refused."""

    path: str
    imported: list[dict[str, Any]] = field(default_factory=list)
    """{"symbol", "file", "rows", "first", "last", "new_rows", "revised", "warnings"} per stored series."""
    skipped: list[dict[str, str]] = field(default_factory=list)
    """{"file", "reason"}: not a daily price file."""
    refused: list[dict[str, str]] = field(default_factory=list)
    """{"file", "reason"}: a daily file that could not be read or stored."""
    seconds: float = 0.0

    def summary(self) -> str:
        text = f"imported {len(self.imported)} series from {self.path}"
        if self.skipped:
            text += f", skipped {len(self.skipped)} files that are not daily"
        if self.refused:
            text += f", refused {len(self.refused)} (listed above)"
        return text + f" in {self.seconds:.1f} s"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "imported": self.imported, "skipped": self.skipped,
                "refused": self.refused, "seconds": round(self.seconds, 3),
                "counts": {"imported": len(self.imported), "skipped": len(self.skipped),
                           "refused": len(self.refused)}}


def is_bulk_path(path: Path | str) -> bool:
    """Whether --csv names a folder or a .zip (a bulk import) rather than one file."""
    path = Path(path).expanduser()
    return path.is_dir() or path.suffix.lower() == ".zip"


class _Answer:
    """A source that hands the store one already parsed file."""

    name = "csv"
    description = "a file of a bulk import"
    incremental = False
    positive_prices = False

    def __init__(self, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
        self.frame, self.meta = frame, meta

    def fetch(self, request: FetchRequest) -> FetchResult:
        from seqcast.data.series import between
        from seqcast.data.sources import FetchResult

        frame = between(self.frame, request.start, request.end)
        if frame.empty:
            raise DataError(f"no rows in the requested date range (the file covers "
                            f"{self.frame.index[0].date()} .. {self.frame.index[-1].date()})")
        return FetchResult(frame, self.meta)


def import_folder(workspace: Workspace, path: Path | str, *, start: date | None = None, end: date | None = None,
                  date_format: str | None = None, decimal: str | None = None, full: bool = False,
                  progress: Callable[[str], None] | None = None) -> BulkResult:
    """Import every daily price file under a folder or in a .zip into the store.

    progress(line) is called with one line per refused file as it happens. Raises
    CSVFormatError when the path is no folder or readable zip, or a zip is refused whole.
    """
    from seqcast.data.sources import FetchRequest
    from seqcast.data.store import Store
    from seqcast.data.symbols import normalise_symbol

    path = Path(path).expanduser()
    result = BulkResult(str(path))
    began = time.perf_counter()
    store = Store(workspace)
    for name, reader in _members(path):
        skip = _not_daily_dir(name)
        if skip:
            result.skipped.append({"file": name, "reason": skip})
            continue
        try:
            data = reader()
            if _stooq_not_daily(data):
                result.skipped.append({"file": name, "reason": "not daily bars (<PER> is not D)"})
                continue
            frame, symbol = _parse(data, name, date_format, decimal)
            if frame is None:
                result.skipped.append({"file": name, "reason": symbol})
                continue
            symbol = normalise_symbol(symbol)
            notes = list(frame.attrs.get("notes", []))
            meta = {"file": f"{path}:{name}" if path.is_file() else str(path / name), "notes": notes}
            request = FetchRequest(symbol, start, end, "d", {})
            stored = store.fetch(_Answer(frame, meta), request, full=full, name="csv")
        except SeqcastError as exc:
            result.refused.append({"file": name, "reason": str(exc)})
            if progress is not None:
                progress(f"refused {name}: {exc}")
            continue
        result.imported.append(_entry(stored, name))
    result.seconds = time.perf_counter() - began
    return result


def _entry(stored: StoredSeries, name: str) -> dict[str, Any]:
    meta = stored.meta
    return {"symbol": meta["symbol"], "file": name, "rows": meta["rows"], "first": meta["first"],
            "last": meta["last"], "new_rows": meta.get("new_rows", 0), "revised": meta.get("revised"),
            "warnings": meta.get("warnings", []), "notes": meta.get("notes", [])}


def _parse(data: bytes, name: str, date_format: str | None, decimal: str | None
           ) -> tuple[pd.DataFrame | None, str]:
    """(frame, symbol) of a daily file, or (None, why it is skipped) for weekly or monthly bars."""
    import numpy as np

    from seqcast.data.series import parse_price_csv

    frame = parse_price_csv(data, origin=name, date_format=date_format, decimal=decimal)
    if len(frame) > 3:
        gaps = np.diff(frame.index.to_numpy().astype("datetime64[D]").astype(np.int64))
        if float(np.median(gaps)) > 5:
            return None, f"not daily bars (dates {float(np.median(gaps)):.0f} days apart)"
    symbol = _ticker(data) or PurePosixPath(name).name
    for suffix in SUFFIXES:
        if symbol.lower().endswith(suffix):
            symbol = symbol[: -len(suffix)]
    return frame, symbol


def _ticker(data: bytes) -> str | None:
    """The <TICKER> of a stooq bulk file (its first data row), else None."""
    if not _STOOQ_PER.match(data.lstrip(b"\xef\xbb\xbf")[:20]):
        return None
    lines = data.split(b"\n", 2)
    if len(lines) < 2:
        return None
    first = re.split(rb"[,;]", lines[1].strip(), maxsplit=1)[0].decode("ascii", "replace").strip()
    return first or None


def _stooq_not_daily(data: bytes) -> bool:
    if not _STOOQ_PER.match(data.lstrip(b"\xef\xbb\xbf")[:20]):
        return False
    lines = data.split(b"\n", 2)
    cells = re.split(rb"[,;]", lines[1].strip()) if len(lines) > 1 else []
    return len(cells) > 1 and cells[1].strip().upper() not in (b"D", b"")


def _not_daily_dir(name: str) -> str:
    """Why a member is skipped by its path (a folder of hourly bars, another suffix), or ""."""
    parts = PurePosixPath(name).parts
    for part in parts[:-1]:
        if _NOT_DAILY_DIR.match(part):
            return f"not daily bars (folder {part!r})"
    if not parts[-1].lower().endswith(SUFFIXES):
        return "not a price file (expected .txt or .csv)"
    if parts[-1].startswith("."):
        return "a hidden file"
    return ""


def _members(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name relative to the folder or zip, a reader of its bytes) for every file, sorted by name."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        if len(files) > MAX_FILES:
            raise CSVFormatError(f"{path} holds {len(files)} files, more than {MAX_FILES} that one import "
                                 "reads; import its subfolders one by one")
        for file in files:
            yield file.relative_to(path).as_posix(), _file_reader(file)
        return
    if not path.exists():
        raise CSVFormatError(f"{path} does not exist; check the path")
    yield from _zip_members(path)


def _file_reader(file: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return fileio.read_bytes(file, max_bytes=fileio.MAX_CSV_BYTES)
        except fileio.RefusedFile as exc:
            raise CSVFormatError(f"{exc.strerror}") from None
        except OSError as exc:
            raise CSVFormatError(f"cannot be read: {exc.strerror or exc}") from None
    return read


def _zip_members(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CSVFormatError(f"{path} is not a readable zip archive ({exc}); download it again") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_FILES:
            raise CSVFormatError(f"{path} holds {len(infos)} files, more than {MAX_FILES} that one import reads")
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_BYTES:
            raise CSVFormatError(f"{path} would unpack to {total / 1024**3:.1f} GB, more than "
                                 f"{MAX_TOTAL_BYTES / 1024**3:.0f} GB of price files; refused (a zip bomb?)")
        for info in sorted(infos, key=lambda i: i.filename):
            name = info.filename.replace("\\", "/")
            why = _unsafe_member(info, name)
            if why:
                yield name, _refuse(why)
                continue
            yield name, _zip_reader(archive, info)


def _unsafe_member(info: zipfile.ZipInfo, name: str) -> str:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
        return "its name leads out of the archive (an absolute path or ..); refused"
    if info.flag_bits & 0x1:
        return "it is encrypted; unpack the archive yourself"
    if info.file_size > fileio.MAX_CSV_BYTES:
        return f"it unpacks to {info.file_size / 1e6:.0f} MB, more than a daily price file can be"
    if info.file_size > fileio.MB and info.file_size > MAX_RATIO * max(1, info.compress_size):
        return f"it is compressed {info.file_size // max(1, info.compress_size)} to one (a zip bomb?); refused"
    return ""


def _refuse(why: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise CSVFormatError(why)
    return read


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        limit = min(info.file_size, fileio.MAX_CSV_BYTES)
        try:
            with archive.open(info) as member:
                data = member.read(limit + 1)  # never more than the header promised, whatever it says
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            raise CSVFormatError(f"cannot be unpacked ({exc})") from None
        if len(data) > limit:
            raise CSVFormatError("it unpacks to more than its header says (a damaged or crafted archive); refused")
        return data
    return read


def check_bulk_options(path: Path | str, symbol: str | None, bar_date: str | None) -> None:
    """A bulk import takes the symbols from the files."""
    if symbol:
        what = "a folder" if Path(path).expanduser().is_dir() else "a zip archive"
        raise ConfigError(f"{path} is {what}: `seqcast fetch --csv {path}` without a symbol imports every daily "
                          f"file in it, one series per file; or give the path of the file itself to import it "
                          f"as {symbol!r}")
    if bar_date:
        raise ConfigError("--bar-date applies to a single --csv file")
