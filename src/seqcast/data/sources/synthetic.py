"""Synthetic series for learning and testing: a noisy sine, an AR(1) process, a random walk, a GARCH walk.

The course seqcast grew from starts with a network learning a *function* before it meets
a market. These series are seeded and dated on business days ending on a fixed date, so
`seqcast fetch sine --source synthetic` gives the same numbers on every machine:

- sine:       10 + sin(2πt / period) + noise       (a pattern the network can learn)
- ar1:        10 + x_t, x_t = φ·x_{t-1} + noise     (mean reversion: partly predictable)
- randomwalk: 10 · exp(cumulative sum of noise/10)  (no pattern: naive is the best forecast)
- garch:      10 · exp(cumulative sum of GARCH(1,1) log-returns): volatility clusters, direction does not
              (alpha GARCH_ALPHA, beta GARCH_BETA, normal shocks, long-run daily sd noise/10); its true
              volatility (garch_volatility) gives the oracle band the intervals are measured against

`noise` is the standard deviation of the daily shock in price units (the level is about 10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from seqcast.data.sources import FetchRequest, FetchResult
from seqcast.errors import ConfigError, NoDataError

SYMBOLS = ("sine", "ar1", "randomwalk", "garch")
GARCH_ALPHA = 0.08
GARCH_BETA = 0.9
"""The garch series' known parameters: sigma2[t] = omega + GARCH_ALPHA * eps[t-1]**2 + GARCH_BETA * sigma2[t-1],
omega = (1 - GARCH_ALPHA - GARCH_BETA) * (noise / 10)**2."""
END_DATE = "2026-10-30"  # the bundled sample's last day: results are reproducible
LEVEL = 10.0
MAX_LENGTH = 32_000
"""Most business days generated: ending on END_DATE they start in 1904, and dates before
1900 are refused as bad data (sources.checks), so 32000 keeps clear of that floor."""


@dataclass(frozen=True)
class SyntheticSpec:
    """The generator's settings; each is checked on creation."""

    kind: str
    length: int = 1000
    """Business days generated (ending on END_DATE)."""
    noise: float = 0.1
    """Standard deviation of the daily shock, in price units."""
    period: float = 20.0
    """Days per sine cycle (sine only)."""
    phi: float = 0.5
    """Autoregressive coefficient (ar1 only), in (-1, 1)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SYMBOLS:
            raise NoDataError(
                f"no synthetic series {self.kind!r}; choose one of: {', '.join(SYMBOLS)}"
            )
        if not isinstance(self.length, int) or isinstance(self.length, bool) or not 30 <= self.length <= MAX_LENGTH:
            raise ConfigError(
                f"--length must be a whole number between 30 and {MAX_LENGTH} (business days ending "
                f"{END_DATE}, so the series starts in 1900 or later), got {self.length!r}; "
                f"use --length {MAX_LENGTH} or less"
            )
        if not _finite(self.noise) or not 0 <= self.noise <= 2:
            raise ConfigError(f"--noise must be between 0 and 2, got {self.noise!r}")
        if not _finite(self.period) or not 2 <= self.period <= 10_000:
            raise ConfigError(f"--period must be between 2 and 10000 days, got {self.period!r}")
        if not _finite(self.phi) or not -1 < self.phi < 1:
            raise ConfigError(f"phi must be strictly between -1 and 1, got {self.phi!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"--seed must be a whole number of at least 0, got {self.seed!r}")

    @classmethod
    def from_options(cls, kind: str, options: dict[str, Any]) -> SyntheticSpec:
        known = {"length", "noise", "period", "phi", "seed"}
        values = {k: v for k, v in options.items() if k in known and v is not None}
        return cls(kind, **values)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def garch_volatility(spec: SyntheticSpec) -> Any:
    """The garch series' true daily volatility: (length,) floats, [i] the sd of the log-move into day i
    (day 0's is the long-run sd, as is its unused move). Raises ConfigError for another kind."""
    import numpy as np

    if spec.kind != "garch":
        raise ConfigError(f"only the garch series has a known volatility, not {spec.kind!r}")
    shocks = np.random.default_rng(spec.seed).normal(0.0, 1.0, spec.length)
    return _garch_path(spec, shocks)[1]


def _garch_path(spec: SyntheticSpec, shocks: Any) -> tuple[Any, Any]:
    """(log-moves, their sds), each (len(shocks),); move [i] is the one into day i (move 0 is unused)."""
    import numpy as np

    var = (spec.noise / LEVEL) ** 2
    omega = (1 - GARCH_ALPHA - GARCH_BETA) * var
    eps, sd = np.empty(len(shocks)), np.empty(len(shocks))
    s2 = var  # start from the long-run variance: no warm-up
    for t, shock in enumerate(shocks.tolist()):
        sd[t] = math.sqrt(s2)
        eps[t] = sd[t] * shock
        s2 = omega + GARCH_ALPHA * eps[t] ** 2 + GARCH_BETA * s2
    eps[0] = 0.0
    return eps, sd


def generate(spec: SyntheticSpec) -> Any:
    """The series as a Close-only DataFrame on business days ending END_DATE."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(spec.seed)
    n = spec.length
    shocks = rng.normal(0.0, 1.0, n)
    if spec.kind == "garch":
        values = LEVEL * np.exp(np.cumsum(_garch_path(spec, shocks)[0]))
    elif spec.kind == "sine":
        values = LEVEL + np.sin(2 * np.pi * np.arange(n) / spec.period) + spec.noise * shocks
    elif spec.kind == "ar1":
        x = np.empty(n)
        # Start from the stationary distribution, so the series has no warm-up drift.
        x[0] = spec.noise / math.sqrt(1 - spec.phi**2) * shocks[0]
        for t in range(1, n):
            x[t] = spec.phi * x[t - 1] + spec.noise * shocks[t]
        values = LEVEL + x
    else:  # randomwalk: geometric, so it stays positive
        values = LEVEL * np.exp(np.cumsum(spec.noise / LEVEL * shocks))
    if (values <= 0).any():
        raise ConfigError(f"--noise {spec.noise:g} drives the {spec.kind} series below zero; use less noise")
    dates = pd.bdate_range(end=END_DATE, periods=n, name="Date")
    return pd.DataFrame({"Close": np.round(values, 6)}, index=dates)


class SyntheticSource:
    """Seeded example series generated on the spot (no network, no files)."""

    name = "synthetic"
    description = "seeded example series: sine, ar1, randomwalk, garch"
    incremental = False
    replaces_stored = True
    """A new fetch replaces what is stored: other options mean another series, not new days."""

    def fetch(self, request: FetchRequest) -> FetchResult:
        from seqcast.data.series import between

        spec = SyntheticSpec.from_options(request.symbol, request.options)
        frame = between(generate(spec), request.start, request.end)
        if frame.empty:
            raise NoDataError(f"the synthetic {spec.kind} series has no rows in the requested range "
                              f"(it ends {END_DATE})")
        params = {"length": spec.length, "noise": spec.noise, "seed": spec.seed}
        if spec.kind == "sine":
            params["period"] = spec.period
        if spec.kind == "ar1":
            params["phi"] = spec.phi
        if spec.kind == "garch":
            params.update(alpha=GARCH_ALPHA, beta=GARCH_BETA)
        return FetchResult(frame, {"provider": "seqcast synthetic generator", "generator": {"kind": spec.kind,
                                                                                          **params}})
