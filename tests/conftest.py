"""Shared fixtures: the chunkings, shapes, modes and dtypes every blockwise test sweeps,
and the S3-compatible server (one per test process) with a new bucket per test."""

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


@pytest.fixture(scope="session")
def s3():
    """moto's S3 server on 127.0.0.1, one per test process (``tests/_s3.py``).

    Skipped without moto[server] and s3fs. Every test module uses this one: moto keeps
    one state per process, so a second server could not check credentials.
    """
    pytest.importorskip("moto.server", reason="S3 tests need moto[server]")
    pytest.importorskip("s3fs", reason="S3 tests need s3fs")
    from tests import _s3

    yield _s3.session_server()
    _s3.stop_session_server()


@pytest.fixture
def bucket(s3):
    """A new, empty bucket on the ``s3`` server for one test: its name."""
    return s3.new_bucket()
