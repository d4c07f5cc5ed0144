"""Running out of memory while training: one line that names the options to lower."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from seqcast.config import RunConfig
from seqcast.errors import TrainingError

_ALLOC_RE = re.compile(r"(?:can't allocate memory|out of memory|failed to allocate)", re.IGNORECASE)
_BYTES_RE = re.compile(r"allocate (\d+) bytes")


class OutOfMemoryError(TrainingError):
    """Training needed more memory than the machine (or GPU) has."""


def _is_allocation_failure(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and bool(_ALLOC_RE.search(str(exc))))


@contextmanager
def memory_hint(cfg: RunConfig) -> Iterator[None]:
    """Turn a MemoryError (or torch's allocation failure) into an error naming what to lower."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not _is_allocation_failure(exc):
            raise
        size = _BYTES_RE.search(str(exc))
        tried = f" (one allocation of {int(size.group(1)) / 1e9:.3g} GB)" if size else ""
        m, d, t = cfg.model, cfg.data, cfg.train
        raise OutOfMemoryError(
            f"not enough memory to train this network{tried}; lower --hidden (now {m.hidden}), "
            f"--layers ({m.layers}), --batch-size ({t.batch_size}) or --lookback ({d.lookback})"
        ) from None
