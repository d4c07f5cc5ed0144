"""The local store of fetched series: one CSV and one metadata file per source and symbol.

Layout: <workspace>/data/<source>/<symbol>.json points at the CSV it describes,
<symbol>-<sha12>.csv. A new fetch writes its CSV under a new name first, then
replaces the JSON atomically, then removes the old CSV: at every moment the
JSON names a complete CSV, so an interrupted write never loses stored data.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcast import atomic
from seqcast.errors import DataError, SeriesNotFoundError, WorkspaceError
from seqcast.symbols import normalise_symbol
from seqcast.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass
class StoredSeries:
    """A stored series' metadata (the frame is loaded on demand)."""

    meta: dict[str, Any]
    csv_path: Path

    @property
    def symbol(self) -> str:
        return self.meta["symbol"]

    @property
    def source(self) -> str:
        return self.meta["source"]

    def load(self) -> pd.DataFrame:
        """Read the CSV back and check it against the recorded checksum."""
        from seqcast.series import parse_price_csv

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
                f"fetch it again with: seqcast fetch {self.symbol} --source {self.source}"
            ) from None
        return dates, close

    def _verified_bytes(self) -> bytes:
        from seqcast import safeio  # not seqcast.series: predict-next reads this without pandas

        try:
            # Never through a link, never a FIFO or device, never more than a price file can be.
            raw = safeio.read_bytes(self.csv_path, max_bytes=safeio.MAX_CSV_BYTES)
        except safeio.RefusedFile as exc:
            raise DataError(
                f"stored data for {self.symbol} ({self.source}) was not read: {self.csv_path} "
                f"{exc.strerror}; fetch it again with: seqcast fetch {self.symbol} --source {self.source}"
            ) from None
        except OSError as exc:
            raise DataError(
                f"stored data for {self.symbol} ({self.source}) is missing: {self.csv_path}; "
                f"fetch it again with: seqcast fetch {self.symbol} --source {self.source}"
            ) from exc
        if hashlib.sha256(raw).hexdigest() != self.meta.get("sha256"):
            raise DataError(
                f"stored data for {self.symbol} ({self.source}) does not match its checksum; "
                f"fetch it again with: seqcast fetch {self.symbol} --source {self.source}"
            )
        return raw


def _suggested_source(symbol: str) -> str:
    """A source the hint can name that has the symbol: the offline sample only has a few."""
    from seqcast.sources.sample import SAMPLES

    return "sample" if symbol in SAMPLES else "stooq"


class Store:
    """Fetched series kept per source and symbol inside a workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.root = workspace.data_dir

    def _meta_path(self, source: str, symbol: str) -> Path:
        return self.root / source / f"{normalise_symbol(symbol)}.json"

    def get(self, symbol: str, source: str | None = None) -> StoredSeries:
        """The stored series for symbol, from source or else the most recently fetched one."""
        symbol = normalise_symbol(symbol)
        candidates = [s for s in self.list() if s.symbol == symbol and source in (None, s.source)]
        if not candidates:
            where = f" from {source}" if source else ""
            raise SeriesNotFoundError(
                f"no stored data for {symbol!r}{where}; fetch it first, e.g. "
                f"seqcast fetch {symbol} --source {source or _suggested_source(symbol)}"
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
        from seqcast import safeio

        out = []
        if not self.root.is_dir():
            return out
        for meta_path in sorted(self.root.glob("*/*.json")):
            try:
                if meta_path.parent.is_symlink():
                    continue  # a source folder that is a link: not ours to follow
                meta = safeio.read_json(meta_path, max_bytes=safeio.MB)
                csv_path = meta_path.parent / meta["file"]
                if Path(meta["file"]).name != meta["file"]:
                    continue  # a file name that points elsewhere is not ours
                if not (isinstance(meta["symbol"], str) and isinstance(meta["source"], str)
                        and isinstance(meta.get("fetched_at", ""), str)
                        and isinstance(meta.get("rows"), int)
                        and isinstance(meta.get("first"), str) and isinstance(meta.get("last"), str)):
                    continue  # get(), latest() and `seqcast data` read these; skip rather than crash
            except (OSError, ValueError, KeyError, TypeError):
                continue
            out.append(StoredSeries(meta, csv_path))
        return out

    def save(self, source: str, symbol: str, frame: pd.DataFrame, meta: dict[str, Any]) -> StoredSeries:
        """Store frame as the current series for (source, symbol), atomically."""
        from seqcast.series import to_csv_text

        symbol = normalise_symbol(symbol)
        body = to_csv_text(frame).encode("ascii")
        digest = hashlib.sha256(body).hexdigest()
        folder = self.root / source
        csv_path = folder / f"{symbol}-{digest[:12]}.csv"
        meta_path = self._meta_path(source, symbol)
        previous = None
        if meta_path.exists():
            try:
                previous = json.loads(meta_path.read_text(encoding="utf-8")).get("file")
            except (OSError, ValueError, AttributeError):
                previous = None
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
        atomic.write_bytes(csv_path, body)
        try:
            atomic.write_json(meta_path, full_meta)
        except BaseException:
            # The JSON still names the previous CSV (unless a Ctrl-C came just after its
            # rename): the new CSV would only be litter.
            try:
                named = json.loads(meta_path.read_text(encoding="utf-8")).get("file")
            except (OSError, ValueError, AttributeError):
                named = None
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


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Union of two series by date; the newer fetch wins on dates both have."""
    import pandas as pd

    from seqcast.series import COLUMNS

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
            f"cannot write the workspace {workspace.root}: {exc.strerror or exc}; {atomic.WRITE_HINT}"
        ) from exc
