"""Shared fixtures: an isolated workspace, offline synthetic series, Agg plots."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch

torch.set_num_threads(1)  # small models: one thread is fastest and deterministic
# Processes the tests start (examples, CLI subprocesses) are bounded too: seqcast's thread
# policy never goes above OMP_NUM_THREADS, so the suite does not slow down under load.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    """Every test gets its own SEQCAST_HOME; nothing touches ~/.seqcast."""
    home = tmp_path / "home"
    monkeypatch.setenv("SEQCAST_HOME", str(home))
    monkeypatch.delenv("SEQCAST_STOOQ_APIKEY", raising=False)
    return home


def business_days(n: int, start: str = "2015-01-01") -> pd.DatetimeIndex:
    return pd.bdate_range(start, periods=n, name="Date")


@pytest.fixture
def sine_frame() -> pd.DataFrame:
    """A predictable positive series: a sine wave around 10 on business days."""
    n = 400
    values = 10 + np.sin(np.arange(n) / 5)
    return pd.DataFrame({"Close": values}, index=business_days(n))


@pytest.fixture
def walk_frame() -> pd.DataFrame:
    """An unpredictable series: a seeded geometric random walk."""
    rng = np.random.default_rng(0)
    n = 400
    values = 4.3 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    return pd.DataFrame({"Close": values}, index=business_days(n))


def write_csv(path, frame: pd.DataFrame) -> str:
    """Save a frame as a plain Date,Close CSV and return its path as str."""
    frame.rename_axis("Date").to_csv(path, float_format="%.6f")
    return str(path)
