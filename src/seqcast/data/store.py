"""The local store of fetched series: one CSV and one metadata file per source and symbol.

Layout: <workspace>/data/<source>/<symbol>.json points at the CSV it describes,
<symbol>-<sha12>.csv. A new fetch writes its CSV under a new name first, then
replaces the JSON atomically, then removes the old CSV: at every moment the
JSON names a complete CSV, so an interrupted write never loses stored data.

Writers of one (source, symbol) are serialised by a file lock (filelock) in
<workspace>/data/.locks/. Store.fetch downloads and checks the answer first,
then reads the stored series again, merges and saves under the lock: fetches
of different ranges running at once end with the union of their rows.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from seqcast import fileio
from seqcast.data.symbols import normalise_symbol
from seqcast.errors import ConfigError, DataError, SeriesNotFoundError, UnknownSourceError, WorkspaceError
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from seqcast.data.sources import FetchRequest, Interval, Source

REFETCH_DAYS = 7
"""Days re-requested before the last stored date: sources revise their latest rows."""
LOCK_TIMEOUT = 600.0
"""Seconds a fetch waits for another fetch of the same series to finish."""


@dataclass
class StoredSeries:
    """A stored series' metadata (the frame is loaded on demand)."""

    meta: dict[str, Any]
    csv_path: Path

    @property
    def symbol(self) -> str:
        return str(self.meta["symbol"])

    @property
    def source(self) -> str:
        return str(self.meta["source"])

    def load(self) -> pd.DataFrame:
        """Read the CSV back and check it against the recorded checksum."""
        from seqcast.data.series import parse_price_csv

        return parse_price_csv(self._verified_bytes(), origin=str(self.csv_path))

    def load_close(self) -> tuple[np.ndarray, np.ndarray]:
        """(dates as datetime64[D], Close as float64) without pandas: predict-next's fast path.

        The file is one that Store.save wrote and its checksum matches, so its format is known.
        """
        import numpy as np

        text = self._verified_bytes().decode("ascii")
        header = text[: text.find("\n")].split(",")
        try:
            table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, dtype=str, ndmin=2,
                               usecols=(0, header.index("Close")))  # (rows, 2)
            dates = table[:, 0].astype("datetime64[D]")
            close = table[:, 1].astype(np.float64)
        except (ValueError, IndexError) as exc:
            raise DataError(
                f"stored data for {self.symbol} ({self.source}) is unreadable ({exc}); "
                f"fetch it again with: {fetch_command(self.symbol, self.source)}"
            ) from None
        return dates, close

    def _verified_bytes(self) -> bytes:
        from seqcast import fileio  # not seqcast.data.series: predict-next reads this without pandas

        try:
            # Never through a link, never a FIFO or device, never more than a price file can be.
            raw = fileio.read_bytes(self.csv_path, max_bytes=fileio.MAX_CSV_BYTES)
        except fileio.RefusedFile as exc:
            raise DataError(
                f"stored data for {self.symbol} ({self.source}) was not read: {self.csv_path} "
                f"{exc.strerror}; fetch it again with: {fetch_command(self.symbol, self.source)}"
            ) from None
        except OSError as exc:
            raise DataError(
                f"stored data for {self.symbol} ({self.source}) is missing: {self.csv_path}; "
                f"fetch it again with: {fetch_command(self.symbol, self.source)}"
            ) from exc
        if hashlib.sha256(raw).hexdigest() != self.meta.get("sha256"):
            raise DataError(
                f"stored data for {self.symbol} ({self.source}) does not match its checksum; "
                f"fetch it again with: {fetch_command(self.symbol, self.source)}"
            )
        return raw


def fetch_command(symbol: str, source: str) -> str:
    """The command that fetches (source, symbol) again: a csv series needs its file, not a source."""
    if source == "csv":
        return f"seqcast fetch {symbol} --csv FILE"
    if source == "python":  # saved from Python: seqcast.data.sources.memory
        return f"seqcast.fit(...) on a newer {symbol} series in Python (Fitted.save() stores it)"
    return f"seqcast fetch {symbol} --source {source}"


def _suggested_source(symbol: str) -> str:
    """A source the hint can name that has the symbol: the offline sample only has a few."""
    from seqcast.data.sources.sample import SAMPLES

    return "sample" if symbol in SAMPLES else "stooq"


class Store:
    """Fetched series kept per source and symbol inside a workspace."""

    def __init__(self, workspace: Workspace, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.root = workspace.data_dir
        self.lock_timeout = lock_timeout
        self._locks: dict[Path, Any] = {}

    @contextmanager
    def lock(self, source: str, symbol: str) -> Iterator[None]:
        """Hold the writers' lock of (source, symbol): other processes and threads wait for it."""
        from filelock import FileLock, Timeout

        symbol = normalise_symbol(symbol)
        path = self.root / ".locks" / f"{source}-{symbol}.lock"
        lock = self._locks.get(path)
        if lock is None:  # one instance per path: re-entrant within a thread
            lock = self._locks[path] = FileLock(path, timeout=self.lock_timeout)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise WorkspaceError(
                f"another seqcast has been writing {symbol} ({source}) for {self.lock_timeout:g} s; "
                "wait for it to finish and try again"
            ) from None
        except OSError as exc:
            raise WorkspaceError(
                f"cannot write the lock {path}: {exc.strerror or exc}; {fileio.WRITE_HINT}"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    def fetch(
        self, source: Source, request: FetchRequest, *, full: bool = False, name: str | None = None
    ) -> StoredSeries:
        """Fetch request from source and merge it into the stored series under the series' lock.

        A later fetch from an incremental source asks only for the days from a week
        before the last stored one; rows the answer lacks are kept and the answer
        wins on dates both have. With full=True the answer replaces the stored
        series (any source, csv included). Nothing is written unless the whole
        answer arrived and passed check_series. The download runs unlocked; the
        stored series is read again, merged and saved under the lock, so fetches
        running at once end with the union of their rows.
        """
        from seqcast.data.sources.checks import check_series

        name = name or source.name
        symbol = normalise_symbol(request.symbol)
        stored, old = self._current(name, symbol, request.interval, full=full)
        start, end = request.start, request.end
        if old is not None and source.incremental:
            resume = old.index[-1].date() - timedelta(days=REFETCH_DAYS)
            starts_inside = start is None or start >= old.index[0].date()
            if starts_inside and (end is None or end >= resume):
                start = max(resume, start) if start else resume
        result = source.fetch(replace(request, start=start))
        frame = check_series(result.frame, f"{name}'s answer for {symbol}",
                             positive=getattr(source, "positive_prices", True))
        with self.lock(name, symbol):
            latest_old = old
            fresh = self._stored_or_none(name, symbol)
            if _checksum(fresh) != _checksum(stored):  # another fetch saved meanwhile: merge into that
                _, latest_old = self._current(name, symbol, request.interval, full=full)
            revised: list[str] = []
            if latest_old is not None:
                revised = revised_dates(latest_old, frame)
                frame = merge(latest_old, frame)
            meta = {
                **{k: v for k, v in result.meta.items() if k != "apikey"},
                "interval": request.interval,
                "requested": {"from": str(start) if start else None, "to": str(end) if end else None},
                "new_rows": int(len(frame) - (0 if latest_old is None else len(latest_old))),
                "revised": {"rows": len(revised), "dates": revised},
                "warnings": _quality(frame, name, symbol, request.interval),
            }
            return self.save(name, symbol, frame, meta)

    def _stored_or_none(self, source: str, symbol: str) -> StoredSeries | None:
        symbol = normalise_symbol(symbol)
        one = self._read_meta(self._meta_path(source, symbol))  # one file, not a listing of the store
        return one if one is not None and one.symbol == symbol and one.source == source else None

    def _current(
        self, source: str, symbol: str, interval: str, *, full: bool
    ) -> tuple[StoredSeries | None, pd.DataFrame | None]:
        """The stored series and the frame a new answer merges into (None with full or unreadable)."""
        stored = self._stored_or_none(source, symbol)
        if stored is None:
            return None, None
        stored_interval = stored.meta.get("interval", "d")
        if stored_interval != interval and not full:
            raise ConfigError(
                f"{symbol} from {source} is stored with interval {stored_interval!r}, "
                f"not {interval!r}; add --full to replace it"
            )
        if full:
            return stored, None
        try:
            return stored, stored.load()
        except DataError:
            return stored, None  # unreadable: replaced by what comes now

    def remove(self, symbol: str, source: str | None = None) -> list[StoredSeries]:
        """Delete the stored series of symbol (from source, or from every source); what was removed."""
        symbol = normalise_symbol(symbol)
        found = [s for s in self.list() if s.symbol == symbol and source in (None, s.source)]
        if not found:
            where = f" from {source}" if source else ""
            raise SeriesNotFoundError(
                f"no stored data for {symbol!r}{where}; list what is stored with: seqcast data"
            )
        for stored in found:
            with self.lock(stored.source, symbol):
                meta_path = self._meta_path(stored.source, symbol)
                csv_names = {stored.csv_path.name}
                current = _named_csv(meta_path)  # a fetch may have replaced the CSV since the listing
                if current is not None:
                    csv_names.add(current)
                try:
                    meta_path.unlink(missing_ok=True)  # first the JSON: the series is gone at once
                    for name in csv_names:
                        (meta_path.parent / name).unlink(missing_ok=True)
                except OSError as exc:
                    raise WorkspaceError(
                        f"cannot remove {meta_path}: {exc.strerror or exc}; {fileio.WRITE_HINT}"
                    ) from exc
        return found

    def _meta_path(self, source: str, symbol: str) -> Path:
        return self.root / source / f"{normalise_symbol(symbol)}.json"

    def get(self, symbol: str, source: str | None = None) -> StoredSeries:
        """The stored series for symbol, from source or else the most recently fetched one."""
        symbol = normalise_symbol(symbol)
        if source is not None:  # one file to read, not the whole store (bulk imports fetch thousands)
            one = self._read_meta(self._meta_path(source, symbol))
            if one is not None and one.symbol == symbol and one.source == source:
                return one
        # Only <source>/<symbol>.json can hold it (_meta_path): reading every series' metadata for each
        # get made loading a sweep's n symbols n² reads (1,000 symbols: a million).
        import glob

        candidates = [s for s in (self._read_meta(p) for p in sorted(self.root.glob(f"*/{glob.escape(symbol)}.json")))
                      if s is not None and s.symbol == symbol and source in (None, s.source)]
        if not candidates:
            import difflib

            from seqcast.data.sources import source_names
            from seqcast.errors import UnknownSourceError

            if source is not None and source not in source_names():
                raise UnknownSourceError(f"unknown source {source!r}; choose one of: {', '.join(source_names())}")
            where = f" from {source}" if source else ""
            stored = sorted({s.symbol for s in self.list() if source in (None, s.source)})
            close = difflib.get_close_matches(symbol, stored, n=1, cutoff=0.8)  # a typo, not another pair
            maybe = f"did you mean {close[0]!r} (seqcast data lists what is stored)? Or " if close else ""
            raise SeriesNotFoundError(
                f"no stored data for {symbol!r}{where}; {maybe}fetch it first, e.g. "
                f"{fetch_command(symbol, source or _suggested_source(symbol))}"
            )
        return max(candidates, key=lambda s: s.meta.get("fetched_at", ""))

    def latest(self, source: str | None = None) -> StoredSeries:
        """The most recently fetched series of any symbol (from source, when given)."""
        stored = [s for s in self.list() if source in (None, s.source)]
        if not stored:
            if source is not None:
                raise SeriesNotFoundError(
                    f"no data from {source} stored yet; fetch some first, e.g. "
                    f"seqcast fetch SYMBOL --source {source}, or list what is stored: seqcast data"
                )
            raise SeriesNotFoundError(
                "no data fetched yet; start with: seqcast fetch eurpln --source sample"
            )
        return max(stored, key=lambda s: s.meta.get("fetched_at", ""))

    def list(self) -> list[StoredSeries]:
        """Every stored series with readable metadata, sorted by source and symbol.

        Metadata that is a link, not a regular file, too large or not JSON is skipped.
        """

        out: list[StoredSeries] = []
        if not self.root.is_dir():
            return out
        for meta_path in sorted(self.root.glob("*/*.json")):
            stored = self._read_meta(meta_path)
            if stored is not None:
                out.append(stored)
        return out

    @staticmethod
    def _read_meta(meta_path: Path) -> StoredSeries | None:
        """The series a metadata file describes, or None when it is missing, a link, too large or not ours."""
        from seqcast import fileio

        try:
            if meta_path.parent.is_symlink():
                return None  # a source folder that is a link: not ours to follow
            meta = fileio.read_json(meta_path, max_bytes=fileio.MB)
            csv_path = meta_path.parent / meta["file"]
            if Path(meta["file"]).name != meta["file"]:
                return None  # a file name that points elsewhere is not ours
            if not (isinstance(meta["symbol"], str) and isinstance(meta["source"], str)
                    and isinstance(meta.get("fetched_at", ""), str)
                    and isinstance(meta.get("rows"), int)
                    and isinstance(meta.get("first"), str) and isinstance(meta.get("last"), str)):
                return None  # get(), latest() and `seqcast data` read these; skip rather than crash
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return StoredSeries(meta, csv_path)

    def save(self, source: str, symbol: str, frame: pd.DataFrame, meta: dict[str, Any]) -> StoredSeries:
        """Store frame as the current series for (source, symbol), atomically, under its lock."""
        symbol = normalise_symbol(symbol)
        with self.lock(source, symbol):
            return self._save(source, symbol, frame, meta)

    def _save(self, source: str, symbol: str, frame: pd.DataFrame, meta: dict[str, Any]) -> StoredSeries:
        from seqcast.data.series import to_csv_text

        body = to_csv_text(frame).encode("ascii")
        digest = hashlib.sha256(body).hexdigest()
        folder = self.root / source
        csv_path = folder / f"{symbol}-{digest[:12]}.csv"
        meta_path = self._meta_path(source, symbol)
        previous = None
        if meta_path.exists():
            previous = _named_csv(meta_path)
        full_meta = {
            **meta,
            "source": source,
            "symbol": symbol,
            "file": csv_path.name,
            "rows": len(frame),
            "first": str(frame.index[0].date()),
            "last": str(frame.index[-1].date()),
            "columns": list(frame.columns),
            "fetched_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            "sha256": digest,
        }
        fileio.write_bytes(csv_path, body)
        try:
            fileio.write_json(meta_path, full_meta)
        except BaseException:
            # The JSON still names the previous CSV (unless a Ctrl-C came just after its
            # rename): the new CSV would only be litter.
            named = _named_csv(meta_path)
            if csv_path.name not in (previous, named):
                try:
                    csv_path.unlink(missing_ok=True)
                except OSError:
                    pass
            raise
        if previous and previous != csv_path.name and Path(previous).name == previous:
            try:
                (folder / previous).unlink()
            except OSError:
                pass  # a stale CSV is harmless; the JSON no longer points at it
        return StoredSeries(full_meta, csv_path)


def _named_csv(meta_path: Path) -> str | None:
    """The CSV file name a store JSON names, read safely (never a hang, a huge read or a RecursionError);
    None when it names none, or cannot be read (a FIFO, a link, deep nesting: what a fetch replaces)."""
    try:
        named = fileio.read_json(meta_path, max_bytes=fileio.MB)
    except (OSError, ValueError):
        return None
    name = named.get("file") if isinstance(named, dict) else None
    return name if isinstance(name, str) and Path(name).name == name else None


def _checksum(stored: StoredSeries | None) -> str | None:
    return None if stored is None else stored.meta.get("sha256")


def revised_dates(old: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Dates (YYYY-MM-DD) that both frames have with a different value in a column both have."""
    import numpy as np

    both = old.index.intersection(new.index)
    columns = [c for c in old.columns if c in new.columns]
    if len(both) == 0 or not columns:
        return []
    a = old.loc[both, columns].to_numpy(dtype=float)
    b = new.loc[both, columns].to_numpy(dtype=float)
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)
    return [str(d.date()) for d in both[differ]]


def _quality(frame: pd.DataFrame, source: str, symbol: str, interval: str) -> list[dict[str, Any]]:
    """Forward-filled runs and lately missing weekdays of the stored series (seqcast.data.quality)."""
    from seqcast.data.quality import quality_warnings

    volume = frame["Volume"].to_numpy(dtype=float) if "Volume" in frame.columns else None
    return quality_warnings(frame.index, frame["Close"].to_numpy(dtype=float), volume, source=source,
                            symbol=symbol, interval=interval)


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Union of two series by date; the newer fetch wins on dates both have."""
    import pandas as pd

    from seqcast.data.series import COLUMNS

    # Whole rows: a revised day takes all its new values, never a mix of two fetches.
    merged = pd.concat([old[~old.index.isin(new.index)], new]).sort_index()
    return merged[[c for c in COLUMNS if c in merged.columns]]


def check_writable(workspace: Workspace) -> None:
    """Fail early with a clear message when the workspace cannot be created."""
    if workspace.root.exists() and not workspace.root.is_dir():
        raise WorkspaceError(
            f"the workspace {workspace.root} is a file, not a folder; choose another with --home or SEQCAST_HOME"
        )
    try:
        workspace.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(
            f"cannot write the workspace {workspace.root}: {exc.strerror or exc}; {fileio.WRITE_HINT}"
        ) from exc


INTERVALS = ("d", "w", "m")
DOMAINS = ("pl", "com")


def check_source_name(source: str | None) -> None:
    """A source given by name must be a registered one (None: any)."""
    from seqcast.data.sources import source_names

    if source is not None and source not in source_names():
        raise UnknownSourceError(f"unknown source {source!r}; choose one of: {', '.join(source_names())}")


def load_stored(
    workspace: Workspace, symbol: str | None = None, source: str | None = None
) -> tuple[StoredSeries, pd.DataFrame]:
    """A stored series (the most recently fetched when symbol is None) and its frame."""
    check_source_name(source)
    store = Store(workspace)
    stored = store.get(symbol, source) if symbol else store.latest(source)
    return stored, stored.load()


def fetch_series(
    workspace: Workspace,
    symbol: str,
    *,
    source: str = "stooq",
    start: date | str | None = None,
    end: date | str | None = None,
    interval: str = "d",
    csv: Path | str | None = None,
    apikey: str | None = None,
    domain: str | None = None,
    full: bool = False,
    date_format: str | None = None,
    options: dict[str, Any] | None = None,
) -> StoredSeries:
    """Check a fetch's options, fetch the series and merge it into the store (seqcast.api.fetch)."""
    from seqcast.config import check_date_range, parse_date
    from seqcast.data.sources import FetchRequest, get_source

    symbol = normalise_symbol(symbol)
    if csv is not None:
        source = "csv"
    start_d, end_d = parse_date(start, "--from"), parse_date(end, "--to")
    check_date_range(start_d, end_d)
    if interval not in INTERVALS:
        raise ConfigError(f"--interval must be d, w or m, got {interval!r}")
    if domain is not None and domain not in DOMAINS:
        raise ConfigError(f"--domain must be pl or com, got {domain!r}")
    src = get_source(source)
    check_writable(workspace)
    options = dict(options or {})
    # A generated series is replaced, never merged with an earlier generation.
    full = full or bool(getattr(src, "replaces_stored", False))
    if csv is not None:
        options["path"] = str(csv)
    if date_format is not None:
        if csv is None:
            raise ConfigError("--date-format applies to a --csv file only")
        options["date_format"] = date_format
    if apikey:
        options["apikey"] = apikey
    if domain:
        options["domain"] = domain
    request = FetchRequest(symbol, start_d, end_d, cast("Interval", interval), options)
    return Store(workspace).fetch(src, request, full=full, name=source)
