"""Small statistics without scipy: distributions, tests and conformal intervals.

Everything here is pure Python/numpy so seqcast does not need scipy just to
judge a forecast. The special functions follow Numerical Recipes and are
accurate to roughly 1e-12, which is far more than a p-value needs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from seqcast.errors import ConfigError, DataError

# Continued-fraction settings: the number of terms grows like sqrt(max(a, b)),
# so a generous cap still converges for Student t with millions of df.
_BETACF_MAX_ITER = 10_000
_BETACF_EPS = 1e-15
_BETACF_TINY = 1e-300

# scipy.stats.binomtest treats outcomes within this relative factor of the
# observed probability as "equally likely", so rounding noise in the pmf
# does not drop the mirror-image outcome from a symmetric test.
_BINOM_RTOL = 1e-7

# Guards ceil((n + 1) * level) against products like 10 * 0.9 landing a
# hair above an integer, which would silently ask for one residual too many.
_RANK_SLACK = 1e-9


def as_float_arrays(*arrays: object, names: tuple[str, ...] | None = None, allow_inf: bool = False) -> list[np.ndarray]:
    """Return the inputs as equal-length, non-empty 1-D float arrays without NaN."""
    labels = names or tuple(f"array {i}" for i in range(len(arrays)))
    out: list[np.ndarray] = []
    for label, raw in zip(labels, arrays, strict=True):
        try:
            arr = np.asarray(raw, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{label} is not numeric: {exc}") from exc
        if arr.ndim != 1:
            raise DataError(f"{label} must be 1-D, got shape {arr.shape}")
        if arr.size == 0:
            raise DataError(f"{label} is empty")
        # NaN would silently poison every mean downstream; inf is only
        # meaningful for interval bounds (an unbounded conformal interval).
        if np.any(np.isnan(arr)) or (not allow_inf and np.any(np.isinf(arr))):
            raise DataError(f"{label} contains NaN or infinite values")
        out.append(arr)
    lengths = {arr.size for arr in out}
    if len(lengths) > 1:
        detail = ", ".join(f"{label}={arr.size}" for label, arr in zip(labels, out, strict=True))
        raise DataError(f"arrays differ in length: {detail}")
    return out


def rms(values: np.ndarray) -> float:
    """Root mean square of a non-empty float array."""
    # Scale by the largest magnitude first so that squaring neither
    # underflows tiny errors to 0 nor overflows huge ones to inf.
    scale = float(np.max(np.abs(values)))
    if scale == 0.0 or not math.isfinite(scale):
        return scale
    return scale * float(np.sqrt(np.mean((values / scale) ** 2)))


def normal_cdf(x: float) -> float:
    """Standard normal cumulative distribution function."""
    # erfc keeps full relative precision far into the lower tail, where
    # 0.5 * (1 + erf(x)) would cancel to zero.
    return 0.5 * math.erfc(-float(x) / math.sqrt(2.0))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _BETACF_TINY:
        d = _BETACF_TINY
    d = 1.0 / d
    h = d
    for m in range(1, _BETACF_MAX_ITER + 1):
        m2 = 2 * m
        # Even step of the recurrence.
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _BETACF_TINY:
            d = _BETACF_TINY
        c = 1.0 + aa / c
        if abs(c) < _BETACF_TINY:
            c = _BETACF_TINY
        d = 1.0 / d
        h *= d * c
        # Odd step of the recurrence.
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _BETACF_TINY:
            d = _BETACF_TINY
        c = 1.0 + aa / c
        if abs(c) < _BETACF_TINY:
            c = _BETACF_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _BETACF_EPS:
            return h
    # Not reachable for sane parameters; failing loudly beats a wrong p-value.
    raise ArithmeticError(f"betainc continued fraction did not converge (a={a}, b={b}, x={x})")


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    a, b, x = float(a), float(b), float(x)
    if not (a > 0.0 and b > 0.0):
        raise ConfigError(f"betainc needs a > 0 and b > 0, got a={a}, b={b}")
    if math.isnan(x):
        return math.nan
    if not 0.0 <= x <= 1.0:
        raise ConfigError(f"betainc needs 0 <= x <= 1, got x={x}")
    if x == 0.0:
        return 0.0
    if x == 1.0:
        return 1.0
    # Prefactor x^a (1-x)^b / B(a, b), in log space so large a, b do not overflow.
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    # The continued fraction converges fast only left of the mode; use the
    # symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(x: float, df: float) -> float:
    """Cumulative distribution function of Student's t with df degrees of freedom."""
    x, df = float(x), float(df)
    if not df > 0.0:
        raise ConfigError(f"Student t needs df > 0, got {df}")
    if math.isnan(x):
        return math.nan
    if math.isinf(x):
        return 1.0 if x > 0 else 0.0
    # P(|T| > |x|) = I_{df/(df+x^2)}(df/2, 1/2); split it over the two tails.
    tail = 0.5 * betainc(0.5 * df, 0.5, df / (df + x * x))
    return 1.0 - tail if x > 0 else tail


def binomial_test(k: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test p-value for k successes in n trials."""
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise DataError(f"binomial_test needs integer counts, got k={k}, n={n}")
    k, n, p = int(k), int(n), float(p)
    if not 0.0 < p < 1.0:
        raise ConfigError(f"binomial_test needs 0 < p < 1, got p={p}")
    if n < 0 or not 0 <= k <= max(n, 0):
        raise DataError(f"binomial_test needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return math.nan
    if k == n * p:
        # The mode itself: every outcome is at most as likely, so p = 1 exactly
        # (summing the pmf would give 1 minus rounding noise).
        return 1.0
    # log pmf for every outcome via lgamma, so n in the hundreds of thousands
    # neither overflows the binomial coefficient nor underflows p^k.
    log_fact = np.fromiter((math.lgamma(i + 1.0) for i in range(n + 1)), dtype=float, count=n + 1)
    outcomes = np.arange(n + 1, dtype=float)
    log_pmf = log_fact[n] - log_fact - log_fact[::-1] + outcomes * math.log(p) + (n - outcomes) * math.log1p(-p)
    # Two-sided = total probability of outcomes no more likely than the one seen.
    threshold = log_pmf[k] + math.log1p(_BINOM_RTOL)
    pvalue = float(np.exp(log_pmf[log_pmf <= threshold]).sum())
    return min(1.0, pvalue)


def diebold_mariano(e_model: object, e_bench: object, h: int = 1, power: int = 2) -> tuple[float, float]:
    """Diebold-Mariano test with HLN correction; returns (statistic, two-sided p-value)."""
    if int(h) != h or h < 1:
        raise ConfigError(f"diebold_mariano needs an integer horizon h >= 1, got {h}")
    if not power > 0:
        raise ConfigError(f"diebold_mariano needs power > 0, got {power}")
    h = int(h)
    em, eb = as_float_arrays(e_model, e_bench, names=("e_model", "e_bench"))
    n = em.size
    if n < 3:
        return math.nan, math.nan
    d = np.abs(em) ** power - np.abs(eb) ** power
    # A constant loss differential has no sampling variance to test against.
    if np.all(d == d[0]):
        return math.nan, math.nan
    d_mean = float(d.mean())
    centred = d - d_mean
    # Long-run variance: an h-step forecast's errors are MA(h-1), so
    # autocovariances beyond lag h-1 are zero in theory and left out.
    long_run = float(centred @ centred) / n
    for lag in range(1, min(h, n)):
        long_run += 2.0 * float(centred[lag:] @ centred[:-lag]) / n
    if not long_run > 0.0:
        return math.nan, math.nan
    stat = d_mean / math.sqrt(long_run / n)
    # Harvey, Leybourne & Newbold (1997): shrink the statistic for small n.
    hln = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    stat *= hln
    pvalue = 2.0 * student_t_cdf(-abs(stat), n - 1)
    return float(stat), float(min(1.0, pvalue))


LAG_SPREAD_MAX = 2.0
"""A lagging model's forecasts stay within this many day-to-day moves of yesterday's value
(RMS(predicted - previous) < LAG_SPREAD_MAX * RMS(actual - previous)); a forecast further
away is simply far off, not a copy of yesterday."""


def lag_diagnosis(actual: object, predicted: object, previous: object) -> dict[str, float | bool]:
    """Flag a model whose forecasts track yesterday's value rather than today's.

    With err_now = RMSE(predicted, actual), err_lag = RMSE(predicted, previous) and
    moves = RMS(actual - previous) (the naive forecast's RMSE, the size of a day's move),
    where previous[t] is the actual value one step before actual[t], the model is flagged
    (lag_detected = True) when both hold:

    - err_lag < err_now: its predictions sit closer to the last known value than to the target;
    - err_lag < LAG_SPREAD_MAX * moves: they stay near that value, within about a day's move.

    That is the signature of a network that learned to copy its latest input and so looks
    like the true series shifted one step late. A model that is simply far off (a trend
    leaving the training range, a diverged fit) can sit a little closer to yesterday than
    to today while being nowhere near either; the second condition keeps it unflagged.
    lag_ratio is err_lag / err_now: below 1 means closer to yesterday, well above 1 means the
    model moves away from yesterday towards today; lag_spread is err_lag / moves. A perfect
    forecast (err_now == 0) gives lag_ratio inf (nan if the series never moves) and is never
    flagged; nor is any forecast of a series that never moves.
    """
    act, pred, prev = as_float_arrays(actual, predicted, previous, names=("actual", "predicted", "previous"))
    err_now = rms(pred - act)
    err_lag = rms(pred - prev)
    moves = rms(act - prev)
    # A perfect forecast has no lag to measure: inf, or nan if nothing moved.
    ratio = err_lag / err_now if err_now > 0.0 else (math.inf if err_lag > 0.0 else math.nan)
    spread = err_lag / moves if moves > 0.0 else (math.inf if err_lag > 0.0 else math.nan)
    return {
        "rmse_vs_actual": err_now,
        "rmse_vs_previous": err_lag,
        "rms_move": moves,
        "lag_ratio": ratio,
        "lag_spread": spread,
        "lag_detected": bool(err_lag < err_now and err_lag < LAG_SPREAD_MAX * moves),
    }


def _interval_level(level: float) -> float:
    """A nominal interval level as a float strictly between 0 and 1 (the statistics' own domain;
    the --level option's narrower bounds are TrainConfig's)."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be strictly between 0 and 1, got {level}")
    return level


def conformal_quantile(abs_residuals: object, level: float = 0.9) -> float:
    """Conformal half-width: the ceil((n+1)*level)-th smallest |residual| (split conformal's quantile)."""
    level = _interval_level(level)
    (res,) = as_float_arrays(abs_residuals, names=("abs_residuals",))
    # abs() is a no-op for proper input and makes signed residuals safe too.
    res = np.sort(np.abs(res))
    n = res.size
    rank = math.ceil((n + 1) * level - _RANK_SLACK)
    if rank > n:
        # Too few calibration points for this level: only an infinite
        # interval keeps the finite-sample guarantee.
        return math.inf
    return float(res[rank - 1])


def interval_coverage(actual: object, lower: object, upper: object) -> float:
    """Share (0..1) of actual values inside the closed interval [lower, upper]."""
    (act,) = as_float_arrays(actual, names=("actual",))
    lo, hi = as_float_arrays(lower, upper, names=("lower", "upper"), allow_inf=True)
    if lo.size != act.size:
        raise DataError(f"arrays differ in length: actual={act.size}, bounds={lo.size}")
    return float(np.mean((act >= lo) & (act <= hi)))


def normal_ppf(p: float) -> float:
    """Inverse of the standard normal CDF (p strictly between 0 and 1)."""
    from statistics import NormalDist

    p = float(p)
    if not 0.0 < p < 1.0:
        raise ConfigError(f"normal_ppf needs 0 < p < 1, got {p}")
    return NormalDist().inv_cdf(p)


def interval_scores(actual: object, lower: object, upper: object, level: float) -> np.ndarray:
    """Interval score of each central (level) interval (Gneiting & Raftery 2007; Winkler 1972).

    width + (2 / a) * how far the actual value fell outside, with a = 1 - level:
    at 90 % a miss costs 20 times its distance. Lower is better; its mean is minimised
    by the true 5 % and 95 % quantiles, so it rewards narrow intervals only when they
    still cover.
    """
    level = _interval_level(level)
    (act,) = as_float_arrays(actual, names=("actual",))
    lo, hi = as_float_arrays(lower, upper, names=("lower", "upper"), allow_inf=True)
    if lo.size != act.size:
        raise DataError(f"arrays differ in length: actual={act.size}, bounds={lo.size}")
    a = 1.0 - level
    scores: np.ndarray = (hi - lo) + (2.0 / a) * (np.maximum(lo - act, 0.0) + np.maximum(act - hi, 0.0))
    return scores


def pesaran_timmermann(forecast_up: object, actual_up: object) -> tuple[float, float]:
    """Pesaran & Timmermann (1992) test of directional skill; returns (statistic, one-sided p).

    Compares the hit rate with the rate a forecast with the same share of "up" calls
    would reach by chance, P* = py*px + (1-py)(1-px), so calling the market's usual
    direction every day is no skill. p is for "better than chance" (large statistic).
    A forecast (or a market) that never changes direction cannot be tested: (nan, nan).
    """
    x, y = as_float_arrays(forecast_up, actual_up, names=("forecast_up", "actual_up"))
    x, y = x > 0.5, y > 0.5
    n = x.size
    px, py = float(x.mean()), float(y.mean())
    hit = float(np.mean(x == y))
    expected = py * px + (1 - py) * (1 - px)
    var_hit = expected * (1 - expected) / n
    var_expected = ((2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n
                    + 4 * py * px * (1 - py) * (1 - px) / n**2)
    denominator = var_hit - var_expected
    if n < 2 or not denominator > 0.0:
        return math.nan, math.nan
    stat = (hit - expected) / math.sqrt(denominator)
    return float(stat), float(normal_cdf(-stat))


def chi2_sf(x: float, df: int) -> float:
    """Upper tail P(X > x) of a chi-square distribution with df = 1 or 2 degrees of freedom.

    The two closed forms the coverage backtests need: erfc(sqrt(x / 2)) and exp(-x / 2).
    x below 0 (rounding in a likelihood ratio that is 0 in theory) counts as 0; nan stays nan.
    """
    x = float(x)
    if df not in (1, 2):
        raise ConfigError(f"chi2_sf covers df 1 and 2, got {df}")
    if math.isnan(x):
        return math.nan
    x = max(x, 0.0)
    return math.erfc(math.sqrt(x / 2.0)) if df == 1 else math.exp(-x / 2.0)


def _xlogp(count: int, p: float) -> float:
    """count * log(p), with 0 * log(0) = 0 (a probability a likelihood raises to the power 0)."""
    return 0.0 if count == 0 else count * math.log(p)


def _miss_flags(misses: object) -> np.ndarray:
    """A miss sequence (1 / True = the value fell outside its interval) as a bool array."""
    (flags,) = as_float_arrays(misses, names=("misses",))
    if not np.all((flags == 0.0) | (flags == 1.0)):
        raise DataError("misses must be 0 or 1 (False or True) on each day")
    out: np.ndarray = flags == 1.0
    return out


def kupiec(misses: object, level: float) -> tuple[float, float]:
    """Kupiec (1995) unconditional coverage test; returns (LR_uc, p-value from chi-square(1)).

    misses: (n,) 0/1, 1 on a day whose value fell outside its interval; level: the interval's
    nominal level, so the expected miss rate is a = 1 - level. With x misses in n days,
    LR_uc = -2 ln[(1 - a)^(n - x) a^x / ((1 - x/n)^(n - x) (x/n)^x)]: large when the miss rate
    x/n is far from a, either way (too many misses: too narrow; too few: too wide).
    """
    alpha = 1.0 - _interval_level(level)
    flags = _miss_flags(misses)
    n, x = int(flags.size), int(flags.sum())
    rate = x / n
    null = _xlogp(n - x, 1.0 - alpha) + _xlogp(x, alpha)
    fitted = _xlogp(n - x, 1.0 - rate) + _xlogp(x, rate)
    stat = max(-2.0 * (null - fitted), 0.0)
    return float(stat), chi2_sf(stat, 1)


def christoffersen(misses: object, level: float) -> dict[str, float]:
    """Christoffersen (1998) independence and conditional coverage tests of a miss sequence.

    From the day-to-day transitions n_ij (a day in state i followed by one in state j; 1 = miss):
    pi01 = n01 / (n00 + n01), pi11 = n11 / (n10 + n11), pi = (n01 + n11) / (n - 1), and
    LR_ind = -2 ln[(1 - pi)^(n00 + n10) pi^(n01 + n11) / ((1 - pi01)^n00 pi01^n01 (1 - pi11)^n10 pi11^n11)],
    chi-square(1): large when a miss makes the next day's miss more (clustered) or less likely.
    LR_cc = LR_uc (Kupiec) + LR_ind, chi-square(2): right rate and independent misses together.

    Returns lr_ind, ind_pvalue, lr_cc, cc_pvalue and miss_after_miss (pi11, the share of days
    after a miss that missed too). Without a miss before the last day (or with misses only)
    independence cannot be tested: those values are nan.
    """
    flags = _miss_flags(misses)
    lr_uc, _ = kupiec(flags, level)
    before, after = flags[:-1], flags[1:]
    n00 = int(np.sum(~before & ~after))
    n01 = int(np.sum(~before & after))
    n10 = int(np.sum(before & ~after))
    n11 = int(np.sum(before & after))
    nan = {"lr_ind": math.nan, "ind_pvalue": math.nan, "lr_cc": math.nan, "cc_pvalue": math.nan,
           "miss_after_miss": math.nan}
    if n10 + n11 == 0 or n00 + n01 == 0:
        return nan
    pi01, pi11 = n01 / (n00 + n01), n11 / (n10 + n11)
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    null = _xlogp(n00 + n10, 1.0 - pi) + _xlogp(n01 + n11, pi)
    fitted = _xlogp(n00, 1.0 - pi01) + _xlogp(n01, pi01) + _xlogp(n10, 1.0 - pi11) + _xlogp(n11, pi11)
    lr_ind = max(-2.0 * (null - fitted), 0.0)
    lr_cc = lr_uc + lr_ind
    return {"lr_ind": float(lr_ind), "ind_pvalue": chi2_sf(lr_ind, 1), "lr_cc": float(lr_cc),
            "cc_pvalue": chi2_sf(lr_cc, 2), "miss_after_miss": float(pi11)}


def holm(pvalues: object, alpha: float = 0.05) -> np.ndarray:
    """Holm's step-down correction: which of m tests are rejected at family-wise level alpha.

    pvalues: (m,) p-values in [0, 1] (NaN: not a test, never rejected, not counted in m).
    Returns a (m,) bool array. Sorted ascending, p_(i) is rejected while p_(i) <= alpha / (m - i)
    (i = 0, 1, ...); the first that is not stops the procedure. It controls the chance of even one
    false "better than naive" among all m at alpha, whatever the dependence between the tests.
    """
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    rejected = np.zeros(p.shape, dtype=bool)
    valid = np.flatnonzero(np.isfinite(p))
    m = len(valid)
    if m == 0:
        return rejected
    order = valid[np.argsort(p[valid], kind="stable")]
    thresholds = alpha / (m - np.arange(m))
    ok = p[order] <= thresholds
    stop = m if ok.all() else int(np.argmin(ok))
    rejected[order[:stop]] = True
    return rejected


def multiple_testing(pvalues: object, ratios: object, alpha: float = 0.05) -> dict[str, float | int | str]:
    """Honest counting over a family of model-vs-naive tests (one per sweep unit).

    pvalues: (m,) two-sided Diebold–Mariano p-values; ratios: (m,) RMSE / naive of the same units
    (below 1: the model's RMSE is lower). Returns the record's "multiple_testing" field:
    method "holm", tests (finite p-values), better / worse (rejected by Holm with ratio below /
    above 1), the raw counts at p < alpha (raw_better, raw_worse) and expected_by_chance
    (alpha × tests: how many raw "differences" chance alone gives when no unit differs).
    """
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    r = np.asarray(ratios, dtype=np.float64).reshape(-1)
    if p.shape != r.shape:
        raise DataError(f"{p.size} p-values but {r.size} ratios")
    valid = np.isfinite(p) & np.isfinite(r)
    p = np.where(valid, p, np.nan)
    rejected = holm(p, alpha)
    raw = valid & (p < alpha)
    tests = int(valid.sum())
    return {"method": "holm", "alpha": alpha, "tests": tests,
            "better": int((rejected & (r < 1)).sum()), "worse": int((rejected & (r > 1)).sum()),
            "raw_better": int((raw & (r < 1)).sum()), "raw_worse": int((raw & (r > 1)).sum()),
            "expected_by_chance": round(alpha * tests, 1)}


def multiple_testing_sentence(mt: dict[str, Any], unit: str = "cells") -> str:
    """The counting in words: "31 of 500 cells differ from naive at p < 0.05, about 25 expected by
    chance; none after Holm's correction" (better / worse named when some remain)."""
    def number(name: str, default: float = 0.0) -> float:
        value = mt.get(name, default)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else default

    tests, alpha = int(number("tests")), number("alpha", 0.05) or 0.05
    if tests <= 0:
        return f"no {unit} with a test against naive (none finished yet, or every one equals naive)"
    raw = int(number("raw_better")) + int(number("raw_worse"))
    better, worse = int(number("better")), int(number("worse"))
    expected = number("expected_by_chance", alpha * tests)
    chance = f"{expected:.0f}" if expected >= 1 else f"{expected:.2g}"
    after = "none" if better + worse == 0 else " and ".join(
        part for part in (f"{better} better" if better else "", f"{worse} worse" if worse else "") if part)
    return (f"{raw} of {tests} {unit} differ from naive at p < {alpha:g}, about {chance} expected by chance; "
            f"{after} after Holm's correction")


SPA_REPS = 1000
SPA_SEED = 24
"""The bootstrap's seed: the same losses give the same p-value."""


def spa_pvalue(gains: object, reps: int = SPA_REPS, seed: int = SPA_SEED) -> dict[str, float | int | str]:
    """Hansen's test for superior predictive ability of the best of K models over naive (arch.bootstrap.SPA).

    gains: (T, K) per-day loss differentials naive − model (positive: the model's loss is lower that
    day), one column per searched model. The null is that no model beats naive in expectation; the
    p-value ("consistent" variant, stationary bootstrap, studentized, `reps` resamples, seeded) accounts
    for the best being picked among K. A column that never differs from naive cannot beat it and is
    left out of the bootstrap (not of K). Returns {"method": "hansen-spa", "pvalue", "reps", "days": T,
    "models": K, "best": the column with the largest mean gain}. DataError for fewer than 10 days or no column.
    """
    from arch.bootstrap import SPA

    d = np.asarray(gains, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] == 0 or d.shape[0] < 10 or not np.isfinite(d).all():
        raise DataError(f"the SPA test needs at least 10 days of finite gains for one model or more, got {d.shape}")
    days, models = d.shape
    best = int(np.argmax(d.mean(axis=0)))
    varied = np.flatnonzero(d.std(axis=0) > 1e-12 * max(1.0, float(np.abs(d).max())))
    out: dict[str, float | int | str] = {"method": "hansen-spa", "reps": int(reps), "days": days, "models": models,
                                         "best": best}
    if varied.size == 0:  # every model is naive on every day: nothing beats it
        return {**out, "pvalue": 1.0}
    spa = SPA(np.zeros(days), -d[:, varied], reps=int(reps), seed=np.random.default_rng(seed))
    spa.compute()
    p = float(spa.pvalues["consistent"])
    return {**out, "pvalue": min(1.0, max(0.0, p))}


def spa_sentence(spa: dict[str, Any], unit: str = "configs") -> str:
    """The SPA test in words: "the best config's edge over naive survives the search: SPA p = 0.03" /
    "... could be luck from searching 12 configs: SPA p = 0.41" (at the 5 % level)."""
    p, models = spa.get("pvalue"), spa.get("configs")
    if not isinstance(p, (int, float)) or not math.isfinite(p):
        return f"no test of the best config against naive over the search ({spa.get('reason') or 'no losses'})"
    name = spa.get("best_config")
    best = f"the best config ({name})" if isinstance(name, str) and name else "the best config"
    if p < 0.05:
        return f"{best}'s edge over naive survives the search: SPA p = {p:.2g}"
    return f"{best}'s edge over naive could be luck from searching {models} {unit}: SPA p = {p:.2g}"
