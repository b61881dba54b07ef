"""The one docstring mechanism: shared parameter text written once, filled in.

Modelled on scipy's ``_ni_docstrings``/``docfiller`` idea. A docstring names a shared
entry with ``%(name)s``. When the placeholder stands alone on its line, every line of the
entry is indented like the placeholder, so entries are written flush left::

    _docs = DocFiller(NDIMAGE)            # the shared entries below, plus your own

    @_docs
    def uniform_filter(input, size=3, output=None, mode="reflect", ...):
        '''Blockwise twin of :func:`scipy.ndimage.uniform_filter`.

        Parameters
        ----------
        %(input)s
        ...

Entries may hold whole sections (``returns_raises``, ``measure_parameters``) and the
start of an example (``example``), so a family of twins writes each text once. A
family of twins with one signature is made by one factory, and :meth:`DocFiller.named`
gives each its name and filled docstring.

Only ``%(word)s`` is touched (other ``%`` signs stay as they are); an unknown name
raises ``KeyError`` when the module is imported, so a typo cannot ship.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["NDIMAGE", "STATS", "DocFiller"]

F = TypeVar("F", bound=Callable)

_PLACEHOLDER = re.compile(
    r"^(?P<indent>[ \t]*)%\((?P<key>\w+)\)s[ \t]*$|%\((?P<inline>\w+)\)s", re.M
)


class DocFiller:
    """Decorator filling ``%(name)s`` placeholders of a docstring from shared entries."""

    def __init__(self, *tables: Mapping[str, str], **entries: str) -> None:
        merged: dict[str, str] = {}
        for table in (*tables, entries):
            merged.update(table)
        self.entries = {k: textwrap.dedent(v).strip("\n") for k, v in merged.items()}

    def extend(self, *tables: Mapping[str, str], **entries: str) -> DocFiller:
        """A filler with these entries added to (or replacing) this one's."""
        return DocFiller(self.entries, *tables, **entries)

    def fill(self, doc: str) -> str:
        """``doc`` with every placeholder replaced."""

        def replace(match: re.Match) -> str:
            if match["inline"]:
                return self.entries[match["inline"]]
            text = self.entries[match["key"]]
            return textwrap.indent(text, match["indent"])

        return _PLACEHOLDER.sub(replace, doc)

    def __call__(self, func: F) -> F:
        if func.__doc__:  # None under python -OO
            func.__doc__ = self.fill(func.__doc__)
        return func

    def named(self, func: F, name: str, doc: str) -> F:
        """``func``, made by a factory for a family of twins, published as ``name``.

        A family of public functions with one signature (``grey_erosion``,
        ``grey_dilation``, ...) is made by one factory; this gives each its module-level
        name and its own filled docstring, so ``help``, doctests and pickling by name see
        a plain function of the module. The factories leave their return type to be
        inferred from here, so a type checker sees each twin's full signature.
        """
        func.__name__ = func.__qualname__ = name
        func.__doc__ = self.fill(doc)
        return func


#: Entries shared by the ``bigimg.ndimage`` twins (scipy's parameter names).
NDIMAGE = {
    "input": """
        input : array_like or dask array
            The volume. A numpy array (or anything with ``__array__``) is wrapped with
            dask's automatic chunks; a dask array keeps its chunks.""",
    "output": """
        output : dtype or array, optional
            The result's dtype, by scipy's rules when omitted; the result is lazy. An
            array (numpy, ``np.memmap``, zarr: anything taking slice assignment) of the
            result's shape is filled block by block instead, and returned, as scipy.""",
    "mode_reflect": """
        mode : {'reflect', 'constant', 'nearest', 'mirror', 'wrap', 'grid-constant', \
'grid-mirror', 'grid-wrap'}, optional
            How the volume is extended beyond its outer faces (default ``'reflect'``),
            as in scipy. Inside the volume the halo holds the true neighbours.""",
    "mode_multiple": """
        mode : str or sequence of str, optional
            Boundary mode as in scipy (default ``'reflect'``); a sequence gives one per
            filtered axis. Inside the volume the halo holds the true neighbours.""",
    "cval": """
        cval : scalar, optional
            Value beyond the faces when ``mode`` is ``'constant'`` (default 0.0).""",
    "origin": """
        origin : int, optional
            Shift of the kernel's centre (default 0), as in scipy.""",
    "origin_multiple": """
        origin : int or sequence of int, optional
            Shift of the kernel's centre, one per filtered axis (default 0).""",
    "axes": """
        axes : int or sequence of int, optional
            Axes to filter along (keyword-only; default all), as in scipy.""",
    "axis": """
        axis : int, optional
            The axis to filter along (default -1).""",
    "size_foot": """
        size : int or sequence of int, optional
            Shape of the (box) neighbourhood; ignored when ``footprint`` is given.
        footprint : array_like of bool, optional
            The neighbourhood's shape as a mask; takes precedence over ``size``.""",
    "structure": """
        structure : array_like, optional
            Structuring element (nonzero = part of it); default the cross of
            ``generate_binary_structure(ndim, 1)``.""",
    "labels": """
        labels : array_like or dask array of int, optional
            Label volume of the input's shape; voxels with label 0 are background.""",
    "index": """
        index : int or sequence of int, optional
            The labels to measure (default: all nonzero labels together).""",
    "spline_order": """
        order : int, optional
            Spline order 0-5 (default 3).""",
    "mode_interp_constant": """
        mode : {'constant', 'nearest', 'mirror', 'reflect', 'wrap', 'grid-constant', \
'grid-mirror', 'grid-wrap'}, optional
            scipy's interpolation boundary mode (default ``'constant'``).""",
    "mode_interp_mirror": """
        mode : {'mirror', 'constant', 'nearest', 'reflect', 'wrap', 'grid-constant', \
'grid-mirror', 'grid-wrap'}, optional
            scipy's interpolation boundary mode (default ``'mirror'``).""",
    "prefilter": """
        prefilter : bool, optional
            B-spline prefilter for ``order > 1`` (default True).""",
    "output_chunks": """
        output_chunks : tuple, optional
            Keyword-only. Chunks of the result (default: the input's chunk sizes).""",
    "size1d": """
        size : int
            Length of the filter along ``axis``.""",
    "sigma": """
        sigma : scalar or sequence of scalars
            Standard deviation of the Gaussian kernel: one for every axis, or one per
            filtered axis.""",
    "truncate": """
        truncate : float, optional
            Truncate the kernel at this many standard deviations (default 4.0).""",
    "radius": """
        radius : int or sequence of int, optional
            Keyword-only. Radius of the kernel, one for every axis or one per filtered
            axis; overrides ``truncate`` (default None), as in scipy.""",
    "extra": """
        extra_arguments : sequence, optional
            Extra positional arguments passed to the user's function (default none).
        extra_keywords : dict, optional
            Extra keyword arguments passed to the user's function (default none).""",
    "returns": """
        dask array
            Lazy, with the input's shape and chunks; nothing is computed until asked.""",
    "example": """
        Examples
        --------
        >>> import numpy as np, scipy.ndimage as ndi
        >>> from bigimg import ndimage""",
    "dask_example": """
        Examples
        --------
        >>> import numpy as np, dask.array as da
        >>> from scipy import ndimage as ndi""",
    "raises": """
        TypeError
            ``output`` given as a dask array, or what scipy raises.
        ValueError
            What scipy raises for these arguments, before any graph is built
            (:class:`bigimg.ArgumentError`, also a ``RuntimeError``, where scipy raises
            ``RuntimeError``).""",
    # the per-label measurements (sum_labels ... find_objects): scipy's labels/index rules
    "measure_input": """
        input : array_like or dask array
            Values to measure (bool, integer or float).""",
    "measure_labels": """
        labels : array_like or dask array, optional
            Region labels, the shape of ``input`` or broadcastable to it. ``None``: the
            whole input is one region (``index`` is ignored, as in scipy).""",
    "measure_index": """
        index : scalar or array_like, optional
            Labels to measure. ``None``: all voxels with ``labels > 0`` form one region.
            A scalar gives one result; an array gives one per entry, in ``index``'s
            shape. A dask ``index`` is computed (it is small).""",
    "measure_raises": """
        ValueError
            ``labels`` that do not broadcast to ``input``.
        TypeError
            Non-numeric ``input``, ``labels`` or ``index``.
        NotImplementedError
            Complex or 0-d ``input``.""",
    "measure_notes": """
        Each block task holds its block of ``input`` and of ``labels``, a table of the
        labels present in it (under 100 bytes per label), a lookup table of their
        values (at most 4 MiB) and at most 4 MiB of other temporaries: it walks the
        block in slabs of ``2**18`` voxels, making each slab's values in 64 bits and
        its int32 label slots in turn (measured by ``benchmarks/bench_task_memory.py``:
        3 MiB above the input blocks for 64³ and 128³ blocks alike). Merge tasks hold
        O(labels) rows; the graph has O(chunks) tasks whatever the number of labels.
        Nothing computes until the result does.""",
}
#: Sections built from the entries above: the start of a twin's Parameters (the header
#: and ``input``); a per-label measurement's Parameters, and its Raises and Notes; a
#: filter twin's Returns and Raises.
NDIMAGE["parameters"] = DocFiller(NDIMAGE).fill(
    """
    Parameters
    ----------
    %(input)s"""
)
NDIMAGE["measure_parameters"] = DocFiller(NDIMAGE).fill(
    """
    Parameters
    ----------
    %(measure_input)s
    %(measure_labels)s
    %(measure_index)s"""
)
NDIMAGE["measure_raises_notes"] = DocFiller(NDIMAGE).fill(
    """
    Raises
    ------
    %(measure_raises)s

    Notes
    -----
    %(measure_notes)s"""
)
NDIMAGE["returns_raises"] = DocFiller(NDIMAGE).fill(
    """
    Returns
    -------
    %(returns)s

    Raises
    ------
    %(raises)s"""
)


def _skimage_example(module: str) -> str:
    """The start of an example that compares with ``skimage.<module>``."""
    return f"""
        Examples
        --------
        >>> import numpy as np
        >>> from skimage import {module}
        >>> from bigimg import stats"""


#: Entries shared by :mod:`bigimg.stats`: the start of the examples that compare with
#: scikit-image.
STATS = {
    "filters_example": _skimage_example("filters"),
    "exposure_example": _skimage_example("exposure"),
}
