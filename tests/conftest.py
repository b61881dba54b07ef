"""Shared fixtures: the chunkings, shapes, modes and dtypes every blockwise test sweeps."""

from __future__ import annotations

import numpy as np
import pytest

from bigimg._args import FILTER_MODES
from bigimg.testing import odd_chunkings, random_volume  # noqa: F401

SHAPE = (19, 23, 29)
MODES = list(FILTER_MODES)
DTYPES = [np.uint8, np.uint16, np.int32, np.float32, np.float64]
CHUNKINGS = odd_chunkings(SHAPE, halo=3)


@pytest.fixture(params=list(CHUNKINGS), ids=list(CHUNKINGS))
def chunks(request):
    """Every named chunking of SHAPE (single, even, remainder, irregular, ones, < halo)."""
    return CHUNKINGS[request.param]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=[np.dtype(d).name for d in DTYPES])
def dtype(request):
    return np.dtype(request.param)
