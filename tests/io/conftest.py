"""Fixtures of the io tests: an S3-compatible server (moto) on 127.0.0.1, a bucket per test."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def s3():
    """moto's S3 server, started once per test session (skipped without moto/s3fs)."""
    pytest.importorskip("moto.server", reason="S3 tests need moto[server]")
    pytest.importorskip("s3fs", reason="S3 tests need s3fs")
    from .._s3 import start_s3

    server = start_s3()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3):
    """A new, empty bucket for one test: its name."""
    return s3.new_bucket()
