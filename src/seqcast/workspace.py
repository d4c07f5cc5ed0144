"""The workspace: one folder that holds fetched data and training runs.

Resolved from an explicit path, else the SEQCAST_HOME environment variable,
else ~/.seqcast. Nothing is written outside it.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from seqcast.errors import WorkspaceError

ENV_HOME = "SEQCAST_HOME"


def default_home() -> Path:
    """The workspace used when neither an option nor SEQCAST_HOME names one."""
    return Path.home() / ".seqcast"


@dataclass(frozen=True)
class Workspace:
    """Paths inside a workspace root."""

    root: Path

    @classmethod
    def resolve(cls, home: Path | str | None = None) -> Workspace:
        """Pick the root: explicit argument, then $SEQCAST_HOME, then ~/.seqcast."""
        if home is not None and not isinstance(home, (str, os.PathLike)):
            raise WorkspaceError(f"home must be a folder path (a str or pathlib.Path), got {home!r}; "
                                 "pass --home or set SEQCAST_HOME")
        try:
            if home is None:
                home = os.environ.get(ENV_HOME) or default_home()
            root = Path(home).expanduser().resolve()
        except RuntimeError:  # Path.home(): HOME unset and no passwd entry for this user
            raise WorkspaceError(
                "cannot find your home folder for the default workspace ~/.seqcast (HOME is not "
                "set); pass --home or set SEQCAST_HOME"
            ) from None
        try:
            root.stat()
        except OSError as exc:
            # Other errors (missing, not a folder) are reported by whoever writes or reads it.
            if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP):
                from seqcast.fileio import WRITE_HINT

                raise WorkspaceError(
                    f"cannot write the workspace {root}: {exc.strerror}; {WRITE_HINT}"
                ) from None
        if root.exists() and not root.is_dir():  # refused here, not listed as an empty workspace
            raise WorkspaceError(
                f"the workspace {root} is a file, not a folder; choose another with --home or SEQCAST_HOME"
            )
        return cls(root)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"
