"""Exception and warning classes shared by the whole package."""

from __future__ import annotations

__all__ = ["ArgumentError", "BigimgWarning", "IncompleteOutputError"]


class BigimgWarning(UserWarning):
    """Base class of every warning bigimg emits."""


class ArgumentError(ValueError, RuntimeError):
    """A bad argument where scipy.ndimage raises ``RuntimeError``.

    scipy signals some invalid arguments (an unknown ``mode``, a sequence of the wrong
    length) with ``RuntimeError``. bigimg raises this class instead: it is a
    ``ValueError``, as bad input should be, and still a ``RuntimeError``, so code written
    against scipy keeps catching it.
    """


class IncompleteOutputError(OSError):
    """An output on disk was not completely written (an interrupted or failed write)."""
