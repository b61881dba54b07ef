"""scipy's own ``scipy.ndimage.tests`` through bigimg, in CI (see tests/conformance).

Each test runs one pytest session of the installed scipy's ndimage tests in a
subprocess with every function bigimg implements replaced by the chunking wrapper of
:mod:`tests.conformance.plugin`: one session with one chunk per array, one with about
three chunks per axis. A session fails on any failure not in ``known_failures.py``
and on any listed failure that passes (strict xfail).

CI runs a fixed sample of the suite (``SHARDS``: the tests whose id hashes to one
residue, a different one per chunking) to stay within the suite's time budget; set
``BIGIMG_CONFORMANCE_FULL=1`` (or run ``python -m tests.conformance``) for all of it.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("hypothesis")  # scipy's test_filters imports it

from tests.conformance.report import run, table, totals  # noqa: E402

#: CI's sample: one residue of the test-id hash per chunking (1/SHARDS of the suite).
SHARDS = 24
FULL = os.environ.get("BIGIMG_CONFORMANCE_FULL") == "1"


@pytest.mark.slow
@pytest.mark.parametrize("per_axis", [1, 3], ids=["one-chunk", "three-chunks-per-axis"])
def test_scipy_ndimage_suite(per_axis, tmp_path):
    shard = None if FULL else f"{per_axis % SHARDS}/{SHARDS}"
    code, output, data = run(per_axis, tmp_path / "report.json", shard=shard)
    assert data is not None, output[-3000:]
    tests, _ = totals(data["tests"])
    assert tests > 100, output[-3000:]  # the sample reached bigimg
    failed = {name: dict(row["why"]) for name, row in table(data["tests"]).items() if row["failed"]}
    assert code == 0, (failed, output[-3000:])
