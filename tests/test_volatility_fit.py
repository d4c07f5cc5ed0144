"""The fast volatility fit (SLSQP on a vectorised likelihood): same optimum as the old Nelder-Mead and as arch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqcast.forecast import volatility
from seqcast.forecast.volatility import fit_garch, fit_garch_nelder_mead, log_likelihood

from .test_intervals import simulate_gjr


@pytest.mark.parametrize(("dist", "asymmetric"), [("t", True), ("normal", False)])
def test_fast_fit_finds_the_old_fits_parameters(dist, asymmetric):
    eps = simulate_gjr(1500, nu=6.0, seed=11)
    volatility._FIT_CACHE.clear()
    new = fit_garch(eps, dist=dist, asymmetric=asymmetric)
    old = fit_garch_nelder_mead(eps, dist=dist, asymmetric=asymmetric)
    assert log_likelihood(eps, new) >= log_likelihood(eps, old) - 1e-4
    for name in ("alpha", "gamma", "beta"):
        assert getattr(new, name) == pytest.approx(getattr(old, name), abs=2e-3)
    assert new.omega == pytest.approx(old.omega, rel=2e-2)
    assert new.nu == pytest.approx(old.nu, rel=2e-2) or math.isinf(new.nu) == math.isinf(old.nu) is True


def test_fast_garch11_matches_arch():
    arch = pytest.importorskip("arch")
    eps = simulate_gjr(2000, gamma=0.0, alpha=0.08, beta=0.9, seed=12)
    res = arch.arch_model(100 * eps, mean="Zero", vol="GARCH", p=1, q=1, dist="normal").fit(disp="off")
    q = res.params
    volatility._FIT_CACHE.clear()
    mine = fit_garch(eps, dist="normal", asymmetric=False)
    assert mine.alpha == pytest.approx(q["alpha[1]"], abs=2e-3)
    assert mine.beta == pytest.approx(q["beta[1]"], abs=2e-3)
    assert mine.omega * 1e4 == pytest.approx(q["omega"], rel=3e-2)
    assert log_likelihood(eps, mine) >= res.loglikelihood + len(eps) * math.log(100) - 1e-3


def test_fits_are_memoised_per_series_and_split(monkeypatch):
    eps = simulate_gjr(600, seed=13)
    volatility._FIT_CACHE.clear()
    calls = []
    real = volatility._fit_garch
    monkeypatch.setattr(volatility, "_fit_garch", lambda *a: calls.append(a[1:]) or real(*a))
    first = volatility.fit_volatility(eps)
    assert volatility.fit_volatility(eps.copy()) == first  # the same values again: no new fit
    assert len(calls) == 2
    volatility.fit_volatility(eps[:-1])  # another split is another fit
    assert len(calls) == 4


def test_a_degenerate_maximum_is_no_reference_band():
    """Volatility drifting down through the training part: the free fit's maximum is a variance that
    decays from its start value forever (long-run variance ~1e-5 of the moves'); the reference and
    seqcast's own scale use variance targeting there."""
    rng = np.random.default_rng(2)
    n = 1300
    eps = rng.normal(size=n) * 0.008 * np.exp(-np.arange(n) / n)
    square = np.mean(eps**2)
    free = fit_garch(eps, dist="normal", asymmetric=False)
    assert free.omega / (1 - free.persistence) / square < 1e-3  # the degenerate maximum, as on EUR/USD
    ref = volatility.reference_garch(eps)
    assert ref != free and 0.1 <= ref.omega / (1 - ref.persistence) / square <= 10
    for p in volatility.fit_volatility(eps):
        assert p.omega / (1 - p.persistence) / square == pytest.approx(1.0, rel=1e-6)
    fine = simulate_gjr(1500, gamma=0.0, seed=14)
    assert volatility.reference_garch(fine) == fit_garch(fine, dist="normal", asymmetric=False)
