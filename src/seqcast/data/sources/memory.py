"""Series given from Python (seqcast.fit) and stored by Fitted.save: the source "python".

It has nothing to download: Fitted.save hands it the frame it trained on (request.options
"frame"), and the store merges it in as it merges any fetch. Listed so that stored series
from Python are read like any other (seqcast data, train --source python, predict-next).
"""

from __future__ import annotations

from seqcast.data.sources import FetchRequest, FetchResult
from seqcast.errors import ConfigError


class MemorySource:
    """A series held in Python; only Fitted.save fetches from it."""

    name = "python"
    description = "series given from Python (seqcast.fit) and saved with Fitted.save(); nothing to download"
    incremental = False
    positive_prices = False  # as a CSV import: a spread may go to zero or below

    def fetch(self, request: FetchRequest) -> FetchResult:
        frame = request.options.get("frame")
        if frame is None:
            raise ConfigError("the python source holds series saved from Python (seqcast.fit(series).save()); "
                              "it has nothing to download: fetch from another --source, or --csv FILE")
        return FetchResult(frame, {"provider": "a pandas series given from Python (seqcast.fit)"})
