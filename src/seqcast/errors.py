"""One exception hierarchy: every error a user can fix is a SeqcastError.

The CLI prints such errors as one red line and exits with code 1. Anything
else escaping the library is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any


class SeqcastError(Exception):
    """Base for errors the user can fix."""


class ConfigError(SeqcastError):
    """An option or configuration value is out of range or inconsistent."""


class UnknownSourceError(ConfigError):
    """No data source is registered under that name."""


class DataError(SeqcastError):
    """The data cannot be used: malformed file, too short, missing."""


class CSVFormatError(DataError):
    """A CSV file or body is not a price series seqcast can read."""


class NotEnoughDataError(DataError):
    """The series is too short for the requested lookback and split."""


class SeriesNotFoundError(DataError):
    """No stored series for that symbol in the workspace."""


class DownloadError(SeqcastError):
    """A data source could not be reached or answered with an error."""


class NoDataError(DownloadError):
    """The source has no data for that symbol or date range."""


class RateLimitError(DownloadError):
    """The source refuses further requests for now (daily hits limit)."""


class AccessDeniedError(DownloadError):
    """The source denied access."""


class ApiKeyRequiredError(DownloadError):
    """The source requires an API key that was not given or was refused."""


class BrowserCheckError(DownloadError):
    """The source answered with a JavaScript browser check instead of data."""


class UnexpectedResponseError(DownloadError):
    """The source answered with something that is not data (HTML, garbage)."""


class RunError(SeqcastError):
    """A training run cannot be found or used."""


class RunNotFoundError(RunError):
    """No run with that id in the workspace."""


class AmbiguousIdError(RunNotFoundError):
    """An id prefix that matches more than one record: no one of them is meant."""


class RunCorruptError(RunError):
    """A run folder is incomplete, corrupted or not trusted."""


class TrainingError(SeqcastError):
    """Training failed in a way other options can avoid."""


class TrainingDivergedError(TrainingError):
    """The loss became NaN/infinite or exploded: the learning rate is too high for this data."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C ended a command that had already saved some runs (train --seeds).

    A KeyboardInterrupt, so code that stops on Ctrl-C still stops; `saved` lists the runs
    saved before it (each complete), `note` says what became of the one in progress.
    """

    def __init__(self, saved: list[Any], note: str = "") -> None:
        super().__init__(note)
        self.saved = saved
        self.note = note


class WorkspaceError(SeqcastError):
    """The workspace cannot be read or written (permissions, full disk)."""
