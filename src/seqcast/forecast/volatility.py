"""A GJR-GARCH(1,1) volatility model for the prediction intervals, in numpy.

The variance of the next daily move (log-return, or price change for series that
are not positive) follows Glosten, Jagannathan & Runkle (1993):

    sigma2[t] = omega + (alpha + gamma * [eps[t-1] < 0]) * eps[t-1]**2 + beta * sigma2[t-1]

with Student-t innovations (Bollerslev 1987), fitted by maximum likelihood on the
training part only. The recursion, its start (arch's "backcast": an exponentially
weighted mean of the first 75 squared moves) and the likelihood follow the `arch`
package, which the tests and benchmarks/quality.py use as the reference; seqcast
does not depend on it. Multi-day scales sum the model's variance forecasts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from seqcast.errors import RunCorruptError

MIN_MOVES = 100
"""Fewer training moves than this get a constant variance (no GARCH dynamics)."""

_BACKCAST_DAYS = 75
_BACKCAST_DECAY = 0.94
_NU_MAX = 500.0  # beyond this the Student t is a normal distribution for every purpose here


@dataclass(frozen=True)
class GarchParams:
    """Fitted parameters, in the units of the moves (squared for omega and backcast)."""

    omega: float
    alpha: float  # reaction to a rise
    gamma: float  # extra reaction to a fall (may be < 0; alpha + gamma >= 0)
    beta: float
    nu: float  # Student-t degrees of freedom; math.inf for normal innovations
    backcast: float  # sigma2 and eps**2 assumed before the first move

    @property
    def persistence(self) -> float:
        """alpha + gamma/2 + beta: how much of today's variance shock survives a day."""
        return self.alpha + 0.5 * self.gamma + self.beta

    def to_dict(self) -> dict[str, float]:
        out = asdict(self)
        if math.isinf(self.nu):
            out["nu"] = None  # strict JSON has no infinity
        return out

    @classmethod
    def from_dict(cls, raw: object, where: str = "meta.json") -> GarchParams:
        names = ("omega", "alpha", "gamma", "beta", "nu", "backcast")
        if not isinstance(raw, dict) or set(raw) != set(names):
            raise RunCorruptError(f"{where}: 'volatility' must hold {', '.join(names)}; train again")
        vals = {}
        for name in names:
            value = raw[name]
            if name == "nu" and value is None:
                value = math.inf
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise RunCorruptError(f"{where}: volatility.{name} must be a number; train again")
            vals[name] = float(value)
        low = min(vals["omega"], vals["alpha"], vals["alpha"] + vals["gamma"], vals["beta"], vals["backcast"])
        if low < 0 or vals["nu"] <= 2:
            raise RunCorruptError(f"{where}: volatility parameters are out of range; train again")
        return cls(**vals)


def moves(values: np.ndarray, relative: bool) -> np.ndarray:
    """Daily moves: moves[i] goes from day i to day i+1 (log-returns when relative)."""
    values = np.asarray(values, dtype=np.float64)
    return np.diff(np.log(values)) if relative else np.diff(values)


def _backcast(eps: np.ndarray) -> float:
    n = min(len(eps), _BACKCAST_DAYS)
    if n == 0:
        return 0.0
    weights = _BACKCAST_DECAY ** np.arange(n)
    return float(np.dot(weights / weights.sum(), eps[:n] ** 2))


def _linear_scan(c: np.ndarray, beta: float) -> np.ndarray:
    """x[t] = c[t] + beta * x[t-1] (x[-1] = 0) in log2(n) vectorised steps (Hillis-Steele)."""
    x = np.array(c, dtype=np.float64)
    shift, factor = 1, float(beta)
    while shift < len(x) and factor > 0.0:
        x[shift:] += factor * x[:-shift]  # the right side is evaluated before the in-place add
        shift, factor = 2 * shift, factor * factor
    return x


def conditional_variance(eps: np.ndarray, p: GarchParams) -> np.ndarray:
    """sigma2 of each move given the moves before it, plus one more for the next, unseen move.

    Returns len(eps) + 1 values: out[i] is the variance of eps[i] known after eps[i-1].
    """
    eps = np.asarray(eps, dtype=np.float64)
    c = np.empty(len(eps) + 1)
    c[0] = p.omega + (p.alpha + 0.5 * p.gamma + p.beta) * p.backcast
    sq = eps**2
    c[1:] = p.omega + (p.alpha + p.gamma * (eps < 0)) * sq
    return _linear_scan(c, p.beta)


def _loglik(eps: np.ndarray, sigma2: np.ndarray, nu: float) -> float:
    sigma2 = np.maximum(sigma2, 1e-300)
    if math.isinf(nu):
        return float(-0.5 * np.sum(np.log(2 * np.pi) + np.log(sigma2) + eps**2 / sigma2))
    const = math.lgamma(0.5 * (nu + 1)) - math.lgamma(0.5 * nu) - 0.5 * math.log(math.pi * (nu - 2))
    return float(np.sum(const - 0.5 * np.log(sigma2) - 0.5 * (nu + 1) * np.log1p(eps**2 / (sigma2 * (nu - 2)))))


def log_likelihood(eps: np.ndarray, p: GarchParams) -> float:
    """Log-likelihood of the moves under the model (what fit_garch maximises)."""
    eps = np.asarray(eps, dtype=np.float64)
    return _loglik(eps, conditional_variance(eps, p)[:-1], p.nu)


def _unpack(theta: np.ndarray, student: bool, asymmetric: bool, backcast: float) -> GarchParams:
    """The Nelder-Mead fit's unconstrained parameters (seqcast before 0.9; kept for the tests' comparison)."""
    # The reaction to a rise (alpha) and to a fall (alpha + gamma), halved, plus beta and a
    # slack lie on a simplex: both reactions >= 0, beta >= 0 and persistence < 1 (as in arch).
    logits = np.array([theta[1], theta[2] if asymmetric else theta[1], theta[3], 0.0])
    w = np.exp(logits - logits.max())
    w /= w.sum()
    rise, fall = 2 * float(w[0]), 2 * float(w[1])
    nu = min(2.0 + max(math.exp(min(theta[4], 50.0)), 1e-3), _NU_MAX) if student else math.inf
    return GarchParams(math.exp(min(theta[0], 50.0)), rise, fall - rise, float(w[2]), nu, backcast)


def _variance(sq: np.ndarray, neg: np.ndarray, omega: float, alpha: float, gamma: float,
              beta: float, backcast: float) -> np.ndarray:
    """conditional_variance(z, ...)[:-1] from z**2 and [z < 0], in numpy passes (no per-day Python step)."""
    c = np.empty(len(sq))
    c[0] = omega + (alpha + 0.5 * gamma + beta) * backcast
    c[1:] = omega + (alpha + gamma * neg[:-1]) * sq[:-1]
    return _linear_scan(c, beta)


_FIT_CACHE: dict[tuple[bytes, str, bool, bool], GarchParams] = {}
_FIT_CACHE_MAX = 256


def fit_garch(eps: np.ndarray, *, dist: str = "t", asymmetric: bool = True,
              targeting: bool = False) -> GarchParams:
    """Maximum-likelihood GJR-GARCH(1,1) (GARCH(1,1) when not asymmetric) with t or normal errors.

    eps: the training part's moves, oldest first. Too few moves, or none that
    differ from 0, give a constant variance (their mean square). The optimiser is
    scipy's SLSQP under arch's constraints (alpha >= 0, alpha + gamma >= 0, beta >= 0,
    alpha + gamma/2 + beta < 1, 2 < nu <= 500), on a vectorised likelihood, started from the
    best of a small grid, as arch does. targeting: omega is (1 - persistence) x the moves' mean
    square (variance targeting) instead of a free parameter. Results are memoised per (moves, dist, asymmetric)
    within the process: every config and seed of a sweep on one series and split reuses them.
    """
    if dist not in ("t", "normal"):
        raise ValueError(f"dist must be 't' or 'normal', got {dist!r}")
    eps = np.ascontiguousarray(eps, dtype=np.float64)
    import hashlib

    key = (hashlib.sha1(eps.tobytes()).digest() + len(eps).to_bytes(8, "little"), dist, asymmetric, targeting)
    hit = _FIT_CACHE.get(key)
    if hit is None:
        hit = _fit_garch(eps, dist, asymmetric, targeting)
        if len(_FIT_CACHE) >= _FIT_CACHE_MAX:
            _FIT_CACHE.pop(next(iter(_FIT_CACHE)))
        _FIT_CACHE[key] = hit
    return hit


def _fit_garch(eps: np.ndarray, dist: str, asymmetric: bool, targeting: bool = False) -> GarchParams:
    import warnings

    from scipy.optimize import minimize  # type: ignore[import-untyped]

    unit = float(np.sqrt(np.mean(eps**2))) if len(eps) else 0.0
    if len(eps) < MIN_MOVES or not unit > 0 or not math.isfinite(unit):
        var = unit**2 if unit > 0 and math.isfinite(unit) else 1.0
        return GarchParams(var, 0.0, 0.0, 0.0, math.inf, var)
    z = eps / unit  # fit in units of the typical move: the optimiser sees numbers near 1
    sq, neg = z**2, (z < 0).astype(np.float64)
    student = dist == "t"
    bc = _backcast(z)
    n = len(z)
    log2pi = math.log(2 * math.pi)

    def full(x: np.ndarray) -> tuple[float, float, float, float, float]:
        omega, alpha = float(x[0]), float(x[1])
        gamma = float(x[2]) if asymmetric else 0.0
        beta = float(x[3 if asymmetric else 2])
        nu = 1.0 / float(x[-1]) if student else math.inf  # optimised as 1/nu: smooth up to normal
        if targeting:  # the long-run variance is the training part's (1 in these units)
            omega = max(1.0 - alpha - 0.5 * gamma - beta, 1e-8)
        return omega, alpha, gamma, beta, nu

    def objective(x: np.ndarray) -> float:
        omega, alpha, gamma, beta, nu = full(x)
        s2 = np.maximum(_variance(sq, neg, omega, alpha, gamma, beta, bc), 1e-300)
        if not student:
            value = 0.5 * float(n * log2pi + np.sum(np.log(s2) + sq / s2))
        else:
            const = math.lgamma(0.5 * (nu + 1)) - math.lgamma(0.5 * nu) - 0.5 * math.log(math.pi * (nu - 2))
            tails = np.sum(np.log1p(sq / (s2 * (nu - 2))))
            value = -float(n * const - 0.5 * np.sum(np.log(s2)) - 0.5 * (nu + 1) * tails)
        return value if math.isfinite(value) else 1e300

    # Start: the best of a small grid (persistence 0.9-0.98, a few reactions), omega from the unit variance.
    starts = []
    for a in (0.03, 0.06, 0.1):
        for g in ((0.0, 0.05) if asymmetric else (0.0,)):
            for b in (0.85, 0.9, 0.95):
                pers = a + g / 2 + b
                if pers < 0.99:
                    guess = [1.0 - pers, a] + ([g] if asymmetric else []) + [b] + ([1 / 8.0] if student else [])
                    starts.append(np.array(guess))
    x0 = min(starts, key=objective)
    bounds = [(1.0, 1.0) if targeting else (1e-8, 10.0), (0.0, 1.0)]  # omega (unused when targeting), alpha
    bounds += ([(-1.0, 2.0)] if asymmetric else []) + [(0.0, 1.0)]  # gamma, beta
    bounds += [(1 / _NU_MAX, 1 / 2.05)] if student else []
    ib = 3 if asymmetric else 2

    def persistence_slack(x: np.ndarray) -> float:
        return 1.0 - 1e-6 - float(x[1] + (0.5 * x[2] if asymmetric else 0.0) + x[ib])

    constraints = [{"type": "ineq", "fun": persistence_slack}]
    if asymmetric:
        constraints.append({"type": "ineq", "fun": lambda x: float(x[1] + x[2])})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SLSQP's numerical-gradient steps may probe the bounds' edge
        res = minimize(objective, x0, method="SLSQP", bounds=bounds, constraints=constraints,
                       options={"ftol": 1e-10, "maxiter": 400})
    x: np.ndarray = res.x if np.isfinite(res.x).all() and objective(res.x) <= objective(x0) else x0
    x = np.clip(x, [lo for lo, _ in bounds], [hi for _, hi in bounds])
    omega, alpha, gamma, beta, nu = full(x)
    gamma = max(gamma, -alpha)  # alpha + gamma >= 0 exactly, whatever SLSQP's constraint tolerance
    if alpha + 0.5 * gamma + beta >= 1.0:
        beta = max(0.0, 1.0 - 1e-6 - alpha - 0.5 * gamma)
    s2 = unit**2
    return GarchParams(omega * s2, alpha, gamma, beta, nu, bc * s2)


def fit_garch_nelder_mead(eps: np.ndarray, *, dist: str = "t", asymmetric: bool = True) -> GarchParams:
    """seqcast's earlier fit (a Nelder-Mead simplex, ~8,000 likelihood evaluations): the tests' reference."""
    eps = np.asarray(eps, dtype=np.float64)
    unit = float(np.sqrt(np.mean(eps**2))) if len(eps) else 0.0
    if len(eps) < MIN_MOVES or not unit > 0 or not math.isfinite(unit):
        var = unit**2 if unit > 0 and math.isfinite(unit) else 1.0
        return GarchParams(var, 0.0, 0.0, 0.0, math.inf, var)
    z = eps / unit
    student = dist == "t"
    bc = _backcast(z)

    def objective(theta: np.ndarray) -> float:
        value = -log_likelihood(z, _unpack(theta, student, asymmetric, bc))
        return value if math.isfinite(value) else math.inf

    theta0 = np.array([math.log(0.05), 0.0, 0.0, math.log(18.0), math.log(6.0)])
    theta, best = theta0, objective(theta0)
    for step in (0.5, 0.2, 0.2, 0.1, 0.1, 0.05):  # restarts: a simplex can collapse before the optimum
        theta = _nelder_mead(objective, theta, step=step)
        value = objective(theta)
        if best - value < 1e-6:
            break
        best = value
    p = _unpack(theta, student, asymmetric, bc)
    s2 = unit**2
    return GarchParams(p.omega * s2, p.alpha, p.gamma, p.beta, p.nu, p.backcast * s2)


def _nelder_mead(f: Callable[[np.ndarray], float], x0: np.ndarray, *, step: float,
                 max_evals: int = 3000, ftol: float = 1e-9, xtol: float = 1e-7) -> np.ndarray:
    """Minimise f from x0 with the Nelder-Mead simplex (standard coefficients 1, 2, 0.5, 0.5)."""
    n = len(x0)
    simplex = np.vstack([x0] + [x0 + step * np.eye(n)[i] for i in range(n)])
    values = np.array([f(x) for x in simplex])
    evals = n + 1
    while evals < max_evals:
        order = np.argsort(values)
        simplex, values = simplex[order], values[order]
        spread = abs(values[-1] - values[0])
        if spread <= ftol * (1.0 + abs(values[0])) and np.max(np.abs(simplex[1:] - simplex[0])) <= xtol:
            break
        centroid = simplex[:-1].mean(axis=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = f(reflected)
        evals += 1
        if fr < values[0]:
            expanded = centroid + 2.0 * (centroid - simplex[-1])
            fe = f(expanded)
            evals += 1
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            outside = fr < values[-1]
            contracted = centroid + 0.5 * ((reflected if outside else simplex[-1]) - centroid)
            fc = f(contracted)
            evals += 1
            if fc < (fr if outside else values[-1]):
                simplex[-1], values[-1] = contracted, fc
            else:  # shrink toward the best point
                simplex[1:] = simplex[0] + 0.5 * (simplex[1:] - simplex[0])
                values[1:] = [f(x) for x in simplex[1:]]
                evals += n
    best: np.ndarray = simplex[int(np.argmin(values))]
    return best


MOVING_SHARE = 0.05
"""A training part whose daily moves are non-zero on fewer than this share of days "barely moves"."""


def barely_moves(eps: np.ndarray) -> tuple[int, int] | None:
    """(moving, total) when fewer than MOVING_SHARE of the finite moves differ from 0 (a frozen or pegged
    stretch), else None. A volatility model or a scale fitted on such moves learns nothing."""
    eps = np.asarray(eps, dtype=np.float64)
    eps = eps[np.isfinite(eps)]
    moving = int(np.count_nonzero(eps))
    return (moving, len(eps)) if moving < MOVING_SHARE * len(eps) else None


def fit_volatility(eps: np.ndarray) -> list[GarchParams]:
    """seqcast's interval scale: GJR-GARCH(1,1) with Student-t errors and GARCH(1,1) with normal errors,
    both with variance targeting (Engle & Mezrich 1996: the long-run variance is the training part's).

    horizon_scales averages their variance forecasts with equal weights. Measured on real daily
    series (benchmarks/quality.py), the GJR-t model reacts better to falls and fat tails and the
    average keeps it from being worse than plain GARCH(1,1) where the training part misleads it.
    Targeting removes a degenerate maximum of the likelihood: where the training part's volatility
    drifts down (EUR/USD 2015-2020), the free fit may find beta ~ 0.999, alpha ~ 0, omega ~ 0, a
    variance that decays from the start value forever (its test coverage was 0.69 at 0.90).
    The comparison band is reference_garch's (no targeting), fitted separately.
    """
    return [fit_garch(eps, targeting=True), fit_garch(eps, dist="normal", asymmetric=False, targeting=True)]


def reference_garch(eps: np.ndarray) -> GarchParams:
    """The comparison band's model: plain GARCH(1,1) with normal errors by maximum likelihood (as arch fits it).

    Where that maximum is degenerate (a long-run variance omega / (1 - persistence) more than 10 times
    off the training moves' mean square: a variance decaying from its start value forever, as on
    EUR/USD 2015-2020, whose band covered 69 % at 90 %), the variance-targeted GARCH(1,1) instead:
    a band that is no reference would make any interval look good.
    """
    p = fit_garch(eps, dist="normal", asymmetric=False)
    eps = np.asarray(eps, dtype=np.float64)
    square = float(np.mean(eps**2)) if len(eps) else 0.0
    if p.persistence < 1 and square > 0 and not 0.1 <= p.omega / (1 - p.persistence) / square <= 10:
        return fit_garch(eps, dist="normal", asymmetric=False, targeting=True)
    return p


def horizon_scales(values: np.ndarray, positions: np.ndarray, models: GarchParams | Sequence[GarchParams],
                   relative: bool, horizons: int = 1) -> np.ndarray:
    """Standard deviation of the move from the day before each position over 1..horizons days.

    positions: the first forecast day t of each origin (the data known ends at t-1;
    len(values) forecasts the day after the data). Returns (len(positions), horizons):
    sqrt of the sum of the variance forecasts for days t .. t+h-1, averaged over models.
    """
    models = [models] if isinstance(models, GarchParams) else list(models)
    eps = moves(values, relative)
    out = np.zeros((len(positions), horizons))
    for p in models:
        sigma2 = conditional_variance(eps, p)  # sigma2[t-1]: the move into day t
        v = sigma2[np.asarray(positions) - 1]  # (n_origins,)
        total = np.zeros_like(v)
        for h in range(horizons):
            total = total + v
            out[:, h] += total / len(models)
            v = p.omega + p.persistence * v  # E[sigma2] one day further ahead
    # A model with zero variance (a flat training part) still needs a positive unit.
    return np.sqrt(np.maximum(out, np.finfo(float).tiny))


def models_from_meta(raw: object, where: str = "meta.json") -> list[GarchParams]:
    """The volatility models a run recorded (a list of parameter objects)."""
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise RunCorruptError(f"{where}: 'volatility' is empty; train again")
    return [GarchParams.from_dict(item, where) for item in items]
