"""Exception and warning classes shared by the whole package."""

from __future__ import annotations

__all__ = ["ArgumentError", "BigimgWarning", "IncompleteOutputError"]


class BigimgWarning(UserWarning):
    """Base class of every warning bigimg emits.

    Filter on it to silence (or turn into errors) bigimg's warnings and no others.

    Examples
    --------
    >>> import warnings, numpy as np
    >>> from bigimg import BigimgWarning, stats
    >>> x = np.array([0.0, np.nan, 1.0])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     y = stats.rescale_intensity(x)  # NaN levels: every value becomes NaN
    >>> caught[0].category is BigimgWarning
    True
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", BigimgWarning)  # bigimg's warnings only
    ...     try:
    ...         stats.rescale_intensity(x)
    ...     except BigimgWarning as exc:
    ...         print(str(exc)[:37])
    One or more intensity levels are NaN.
    """


class ArgumentError(ValueError, RuntimeError):
    """A bad argument where scipy.ndimage raises ``RuntimeError``.

    scipy signals some invalid arguments (an unknown ``mode``, a sequence of the wrong
    length) with ``RuntimeError``. bigimg raises this class instead: it is a
    ``ValueError``, as bad input should be, and still a ``RuntimeError``, so code written
    against scipy keeps catching it.

    Examples
    --------
    >>> import numpy as np
    >>> from bigimg import ArgumentError, ndimage
    >>> try:
    ...     ndimage.uniform_filter(np.ones(5), 3, mode="bogus")
    ... except RuntimeError as exc:  # what scipy raises: still caught
    ...     print(type(exc).__name__, isinstance(exc, ValueError))
    ArgumentError True
    """


class IncompleteOutputError(OSError):
    """An output on disk was not completely written (an interrupted or failed write).

    bigimg's writers mark an output as partial until its last block is written, and
    every bigimg reader refuses a partial output with this error: delete it and write
    it again. It is an ``OSError``, like the other errors of reading a file.

    Examples
    --------
    >>> from bigimg import IncompleteOutputError
    >>> try:
    ...     raise IncompleteOutputError("out.zarr is incomplete; delete it and write again")
    ... except OSError as exc:
    ...     print(type(exc).__name__)
    IncompleteOutputError
    """
