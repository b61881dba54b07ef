"""Small shapes and chunkings for the whole-volume statistics tests.

Statistics have no halo, so what matters is the number and irregularity of blocks
(size-1 chunks, remainders, irregular tuples), not chunks smaller than a halo; a small
odd shape keeps the block count (and the test time) low.
"""

from __future__ import annotations

import numpy as np
import pytest

SMALL = (9, 11, 13)
CHUNKS = {
    "single": SMALL,
    "halves": (5, 6, 7),
    "remainder": (4, 4, 5),
    "irregular": ((1, 5, 2, 1), (2, 7, 2), (5, 1, 7)),
    "ones": ((1,) * 9, (11,), (5, 8)),
}
DTYPES = [np.uint8, np.uint16, np.int32, np.float32, np.float64]

chunk_names = pytest.mark.parametrize("cname", list(CHUNKS))
dtypes = pytest.mark.parametrize("dt", DTYPES, ids=[np.dtype(d).name for d in DTYPES])

# every chunking with one dtype, every dtype with the most irregular chunking (9 cases
# instead of 25: the dtype and the chunking act independently on these statistics)
SWEEP = [(c, np.float32) for c in CHUNKS] + [
    ("irregular", d) for d in DTYPES if d is not np.float32
]
sweep = pytest.mark.parametrize(
    "cname,dt", SWEEP, ids=[f"{c}-{np.dtype(d).name}" for c, d in SWEEP]
)
