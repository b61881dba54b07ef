"""A block function that fails part-way through a write, for the resume and S3 tests.

``FAIL["after"]``: how many blocks the source computes before it fails (None: never);
``CALLS``: how often each block was computed. Tests reset both (module state: tests in one
process run one after another).
"""

from __future__ import annotations

import threading

FAIL: dict = {"after": None, "seen": 0}
CALLS: dict = {}
_LOCK = threading.Lock()


def count_or_fail(x, where, message: str):
    """Count block ``where``; raise ``OSError(message)`` once ``FAIL["after"]`` blocks ran."""
    with _LOCK:
        CALLS[where] = CALLS.get(where, 0) + 1
        FAIL["seen"] += 1
        if FAIL["after"] is not None and FAIL["seen"] > FAIL["after"]:
            raise OSError(message)
    return x
