"""The connectivity ``structure`` of ``label`` and ``watershed_ift``, checked as scipy does.

Both :func:`bigimg.ndimage.label` and :func:`bigimg.ndimage.watershed_ift` take a
``structure`` of the input's rank, 3 long on every axis; ``label`` also requires it to
be centrosymmetric. :func:`validate_label_structure` is the one check for both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from bigimg._errors import ArgumentError

__all__ = ["StructureNotSymmetricError", "validate_label_structure"]


class StructureNotSymmetricError(ValueError, AssertionError):
    """A ``label`` structure that is not centrosymmetric.

    scipy raises ``AssertionError`` here; this class is a ``ValueError``, as bad input
    should be, and still an ``AssertionError``, so code written against scipy keeps
    catching it.
    """


def validate_label_structure(structure: Any, ndim: int, *, check_symmetry: bool = True):
    """Return ``structure`` as a bool array, raising like ``scipy.ndimage.label``.

    ``None`` gives the cross (``generate_binary_structure(ndim, 1)``). A wrong rank or
    size raises :class:`~bigimg.ArgumentError` (a ``ValueError``, as ``label`` raises,
    and a ``RuntimeError``, as ``watershed_ift`` raises); ``check_symmetry=False`` is
    for ``watershed_ift``, which accepts any 3-long structure.
    """
    if structure is None:
        return ndi.generate_binary_structure(ndim, 1)
    structure = np.asarray(structure, dtype=bool)
    if structure.ndim != ndim:
        raise ArgumentError(
            f"`structure` must have the same rank as `input` ({ndim}); got rank "
            f"{structure.ndim}. Build one with scipy.ndimage.generate_binary_structure"
            f"({ndim}, connectivity)."
        )
    if any(s != 3 for s in structure.shape):
        raise ArgumentError(
            "`structure` dimensions must be equal to 3 (3 elements along every axis); "
            f"got shape {structure.shape}."
        )
    if check_symmetry and not np.array_equal(structure, structure[(slice(None, None, -1),) * ndim]):
        raise StructureNotSymmetricError(
            "`structure` must be centrosymmetric (equal to itself reversed on every axis) "
            f"so that connections go both ways; got\n{structure.astype(int)}"
        )
    return structure
