"""Shared fixtures: repository paths and the digits data (data/digits.csv.gz)."""

import gzip
import os

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDATA = os.path.join(ROOT, "testdata")


def load_digits():
    """The digits as cwrepro loads them: pixels/16 float32 [N,1,8,8], labels int64; train = first
    1437 rows, test = last 360."""
    with gzip.open(os.path.join(ROOT, "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    x = (rows[:, :64].astype(np.float32) / np.float32(16)).reshape(-1, 1, 8, 8)
    y = rows[:, 64].astype(np.int64)
    return x[:1437], y[:1437], x[1437:], y[1437:]


@pytest.fixture(scope="session")
def digits():
    return load_digits()
