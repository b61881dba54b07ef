"""scipy tests that still fail through bigimg, with the reason (strict xfails).

Keys are pytest node-id prefixes of ``scipy.ndimage.tests``; a value is the reason, or
a dict ``{chunks_per_axis: reason}`` when only one chunking fails. A listed test that
passes fails the run (strict), so a fix shows up and its entry must go.
"""

from __future__ import annotations

KNOWN: dict[str, str | dict[int, str]] = {}


def known_failure(nodeid: str, per_axis: int) -> str | None:
    """The reason ``nodeid`` is expected to fail with ``per_axis`` chunks, or None."""
    for prefix, reason in KNOWN.items():
        if nodeid.startswith(prefix):
            if isinstance(reason, dict):
                return reason.get(per_axis)
            return reason
    return None
