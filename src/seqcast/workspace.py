"""The workspace: one folder that holds fetched data and training runs.

Resolved from an explicit path, else the SEQCAST_HOME environment variable,
else ~/.seqcast. Nothing is written outside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
        if home is None:
            home = os.environ.get(ENV_HOME) or default_home()
        return cls(Path(home).expanduser().resolve())

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"
