"""scipy tests that still fail through bigimg, with the reason (strict xfails).

Keys are pytest node-id prefixes of ``scipy.ndimage.tests``; a value is the reason, or
a dict ``{chunks_per_axis: reason}`` when only one chunking fails. A listed test that
passes fails the run (strict), so a fix shows up and its entry must go.
"""

from __future__ import annotations

_BF_TIES = (
    "distance_transform_bf(metric='chessboard', return_indices=True): among equally near "
    "background voxels scipy's brute force keeps the last in C order; the chessboard "
    "distance is a maximum over axes, so bigimg's separable passes cannot reproduce that "
    "choice and return another nearest voxel (distances are exact)"
)
_OFF_CENTRE = (
    "binary_fill_holes/binary_propagation with an off-centre origin: the neighbourhood is "
    "not centrosymmetric, so propagation is directed and the label engine's closed form "
    "does not apply; bigimg raises NotImplementedError"
)

KNOWN: dict[str, str | dict[int, str]] = {
    "test_morphology::TestNdimageMorphology::test_distance_transform_bf03[": _BF_TIES,
    **{
        f"test_morphology::TestNdimageMorphology::test_binary_axes[numpy-{f}-{a}-origin1-{o}]": (
            _OFF_CENTRE
        )
        for f, origins in (("binary_propagation", (0, 1)), ("binary_fill_holes", (0,)))
        for a in (0, 1, 2)
        for o in origins
    },
}


def known_failure(nodeid: str, per_axis: int) -> str | None:
    """The reason ``nodeid`` is expected to fail with ``per_axis`` chunks, or None."""
    for prefix, reason in KNOWN.items():
        if nodeid.startswith(prefix):
            if isinstance(reason, dict):
                return reason.get(per_axis)
            return reason
    return None
