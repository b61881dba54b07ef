"""scipy's running minimum/maximum, replayed line by line from a point of known state.

``scipy.ndimage.minimum_filter1d`` (and every separable minimum/maximum: the box
``minimum_filter``, grey erosion and dilation by a box, rank 0 and -1 of a box) slides a
double-ended queue of candidates along each line of the array extended by its mode
(``NI_MinOrMaxFilter1D`` in ``scipy/ndimage/src/ni_filters.c``, after Richard Harter).
A new value resets the queue when it compares ``<=`` to its front, and otherwise pops
the back while the back compares ``>=`` to it. Every comparison with NaN is false, so
a NaN is never popped (it leaves only when it dies or at a reset), it stops later
values from popping what lies before it, and it keeps stale fronts alive that later
cause resets. The output at a voxel then depends on the line's history, not only on
its window: with NaN in a line, a block computed on its own halo gives other numbers
than the whole line.

The state of the queue is known without its history at a *sync point* ``s`` (the
queue holds the live entries of the window ``(s - size, s]``), which is exactly what
a fresh run started at ``b = s - size + 1`` holds at ``s``:

* ``ext[b - size : b + size]`` holds no NaN: the queue is then the increasing run of
  the window's suffix minima, whatever came before;
* ``ext[b : b + size]`` is all NaN: nothing is ever popped, so the queue holds exactly
  those NaNs;
* ``b`` is the first position of the extended line (scipy starts there).

:func:`sync_starts` finds, per line, the latest such ``b`` at or before a block's first
window; :func:`replay_rows` runs scipy's loop from there. Infinities compare normally
and need nothing special. The rules were checked against scipy on every start of many
random lines (``tests/ndimage/test_nonfinite.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["replay_rows", "sync_starts"]


@njit(cache=True, nogil=True)
def _sync_rows(nan, w0, size, at_line_start, out):  # pragma: no cover - compiled
    rows, length = nan.shape
    count = np.zeros(length + 1, np.int64)
    for r in range(rows):
        for i in range(length):
            count[i + 1] = count[i] + (1 if nan[r, i] else 0)
        found = -1
        for b in range(min(w0, length - size), -1, -1):
            if count[b + size] - count[b] == size:
                found = b
                break
            if b >= size and count[b + size] - count[b - size] == 0:
                found = b
                break
        if found < 0 and at_line_start:
            found = 0
        out[r] = found


def sync_starts(nan: np.ndarray, w0: int, size: int, at_line_start: bool) -> np.ndarray:
    """Per row of ``nan`` (the NaN mask of extended line segments), the latest start
    ``b <= w0`` from which a fresh run of scipy's queue is exact from ``b + size - 1``
    on, or -1 where the segment holds none (read further back). ``at_line_start``: the
    segment begins at the first position of scipy's extended line.

    >>> nan = np.array([[0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 1, 0, 0]], dtype=bool)
    >>> sync_starts(nan, 3, 2, False).tolist()
    [3, -1]
    >>> sync_starts(nan, 3, 2, True).tolist()
    [3, 0]
    """
    out = np.empty(nan.shape[0], np.int64)
    _sync_rows(np.ascontiguousarray(nan), int(w0), int(size), bool(at_line_start), out)
    return out


@njit(cache=True, nogil=True)
def _replay(seg, starts, w0, n_out, size, minimum, out):  # pragma: no cover - compiled
    rows = seg.shape[0]
    values = np.empty(size, np.float64)
    deaths = np.empty(size, np.int64)
    for r in range(rows):
        b = starts[r]
        if size == 1:
            for i in range(n_out):
                out[r, i] = seg[r, w0 + i]
            continue
        first = w0 - b + size - 1  # step at which the window starting at w0 is complete
        head = 0
        tail = 0
        values[0] = seg[r, b]
        deaths[0] = size
        for step in range(1, first + n_out):
            v = seg[r, b + step]
            if deaths[head] == step:
                head = head + 1 if head + 1 < size else 0
            front = values[head]
            if (minimum and v <= front) or (not minimum and v >= front):
                values[head] = v
                deaths[head] = step + size
                tail = head
            else:
                while (minimum and values[tail] >= v) or (not minimum and values[tail] <= v):
                    tail = tail - 1 if tail > 0 else size - 1
                tail = tail + 1 if tail + 1 < size else 0
                values[tail] = v
                deaths[tail] = step + size
            if step >= first:
                out[r, step - first] = values[head]


def replay_rows(
    seg: np.ndarray, starts: np.ndarray, w0: int, n_out: int, size: int, minimum: bool
) -> np.ndarray:
    """scipy's running minimum (or maximum) of each row of ``seg``, run from ``starts``.

    Row ``r`` is replayed from ``seg[r, starts[r]]`` (a start from :func:`sync_starts`);
    the result holds the outputs of the windows starting at ``w0, ..., w0 + n_out - 1``
    (float64, as scipy's line buffers).

    >>> seg = np.array([[np.nan, 5, np.nan, 1, 3, 9, 9, 9]])
    >>> replay_rows(seg, np.array([0]), 3, 2, 4, True).tolist()  # scipy's, not min()
    [[3.0, 3.0]]
    """
    out = np.empty((seg.shape[0], n_out), np.float64)
    seg = np.ascontiguousarray(seg, dtype=np.float64)
    _replay(seg, np.asarray(starts, np.int64), int(w0), int(n_out), int(size), bool(minimum), out)
    return out
