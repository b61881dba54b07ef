"""The operations a pipeline step may name: an explicit allow-list, never arbitrary imports.

A step's ``op`` is either one of the pipeline's own operations (:data:`PIPELINE_OPS`:
``threshold``, ``compare``, ``astype``, ``mask``) or a public function of one of the
namespaces in :data:`NAMESPACES` (``ndimage.gaussian_filter``, ``stats.threshold_otsu``,
``measure.remove_small_objects``, ``restoration.unsharp_mask``; ``scipy.ndimage.`` and
``bigimg.`` prefixes are accepted too). A bare name works when exactly one namespace
has it. Names are looked up in each module's ``__all__`` and nothing else; the module's
attribute is fetched each time the op runs.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import numbers
import operator as _operator
from dataclasses import dataclass

import dask.array as da
import numpy as np

from bigimg._args import as_dask

__all__ = ["NAMESPACES", "PIPELINE_OPS", "Op", "all_ops", "resolve_op"]

#: Namespace -> module whose ``__all__`` lists the functions a step may call.
NAMESPACES = {
    "ndimage": "bigimg.ndimage",
    "stats": "bigimg.stats",
    "measure": "bigimg.measure",
    "restoration": "bigimg.restoration",
}
_PREFIXES = {"scipy.ndimage.": "ndimage.", **{f"bigimg.{n}.": f"{n}." for n in NAMESPACES}}

THRESHOLD_METHODS = ("otsu", "li", "yen", "isodata", "mean", "minimum", "triangle")
_COMPARISONS = {
    ">": _operator.gt,
    ">=": _operator.ge,
    "<": _operator.lt,
    "<=": _operator.le,
    "==": _operator.eq,
    "!=": _operator.ne,
}


def threshold(input, value="otsu", *, invert: bool = False):
    """Foreground mask ``input > value`` (``input <= value`` with ``invert=True``).

    ``value`` is a number, or a method whose threshold is computed over the whole
    volume by :mod:`bigimg.stats` (``"otsu"``, ``"li"``, ``"yen"``, ``"isodata"``,
    ``"mean"``, ``"minimum"``, ``"triangle"``; computes now, two passes). Returns the
    lazy mask and ``{"threshold": value}``.
    """
    arr = as_dask(input, name="input")
    if isinstance(value, str):
        if value not in THRESHOLD_METHODS:
            raise ValueError(
                f"`value` must be a number or one of {', '.join(THRESHOLD_METHODS)}; got {value!r}."
            )
        from bigimg import stats

        value = float(getattr(stats, f"threshold_{value}")(arr))
    elif not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"`value` must be a number or a method name; got {value!r}.")
    if not isinstance(invert, bool):
        raise TypeError(f"`invert` must be true or false; got {invert!r}.")
    mask = arr <= value if invert else arr > value
    return mask, {"threshold": value}


def compare(input, operator: str, value):
    """``input OPERATOR value`` voxel by voxel, OPERATOR one of ``> >= < <= == !=``.

    ``value`` is a number or a volume of the same shape (``"@step"``).
    """
    if operator not in _COMPARISONS:
        raise ValueError(f"`operator` must be one of {' '.join(_COMPARISONS)}; got {operator!r}.")
    if not isinstance(value, numbers.Real | da.Array | np.ndarray) or isinstance(value, bool):
        raise TypeError(f"`value` must be a number or '@name' of a volume; got {value!r}.")
    return _COMPARISONS[operator](as_dask(input, name="input"), value)


def astype(input, dtype):
    """``input`` cast to ``dtype`` (numpy casting: floats to integers truncate)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"`dtype` must be a numpy dtype name such as 'uint16'; got {dtype!r}."
        ) from None
    return as_dask(input, name="input").astype(dtype)


def mask(input, mask, value=0):
    """``input`` where ``mask`` is nonzero, ``value`` elsewhere (``mask = "@step"``)."""
    arr = as_dask(input, name="input")
    if not isinstance(mask, da.Array | np.ndarray):
        raise TypeError(f"`mask` must be '@name' of a volume; got {mask!r}.")
    if mask.shape != arr.shape:
        raise ValueError(f"`mask` must have the input's shape {arr.shape}; got {mask.shape}.")
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"`value` must be a number; got {value!r}.")
    return da.where(as_dask(mask, name="mask").astype(bool), arr, arr.dtype.type(value))


#: The pipeline's own ops; all are elementwise (cheap to recompute from their inputs).
PIPELINE_OPS = {"threshold": threshold, "compare": compare, "astype": astype, "mask": mask}


@dataclass(frozen=True)
class Op:
    """A resolved op: ``name`` as shown to users, where to find its function."""

    name: str
    module: str | None  # None for the pipeline ops
    attr: str

    @property
    def func(self):
        if self.module is None:
            return PIPELINE_OPS[self.attr]
        return getattr(importlib.import_module(self.module), self.attr)

    @property
    def elementwise(self) -> bool:
        """True when each output voxel depends only on the same input voxel."""
        return self.module is None

    def parameters(self) -> list[str]:
        """Parameter names after the first (the step's input)."""
        params = list(inspect.signature(self.func).parameters.values())[1:]
        return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def bind(self, params: dict) -> None:
        """Raise ``TypeError`` naming the problem if ``params`` do not fit the signature."""
        sig = inspect.signature(self.func)
        first = next(iter(sig.parameters))
        if first in params:
            exc = TypeError(
                f"parameter {first!r} of {self.name} is the step's input; "
                "set it with input = ... instead."
            )
            exc.key = first
            raise exc
        known = self.parameters()
        takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        for key in params:
            if key not in known and not takes_any:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                exc = TypeError(
                    f"{self.name} has no parameter {key!r}{hint}. Its parameters: "
                    f"{', '.join(known) or 'none'}."
                )
                exc.key = key
                raise exc
        try:
            sig.bind(None, **params)
        except TypeError as exc:
            missing = str(exc).replace("missing a required argument: ", "")
            raise TypeError(f"{self.name} needs the parameter {missing}.") from None


def _namespace_functions(namespace: str) -> list[str]:
    module = importlib.import_module(NAMESPACES[namespace])
    return [
        n
        for n in module.__all__
        if inspect.isfunction(getattr(module, n)) or inspect.isbuiltin(getattr(module, n))
    ]


def all_ops() -> list[str]:
    """Every op name a step may use, qualified."""
    names = list(PIPELINE_OPS)
    for ns in NAMESPACES:
        names += [f"{ns}.{n}" for n in _namespace_functions(ns)]
    return names


def resolve_op(text) -> Op:
    """The :class:`Op` for a step's ``op`` value; ``ValueError`` with suggestions otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"op must be a name such as 'ndimage.gaussian_filter'; got {text!r}.")
    name = text
    for prefix, short in _PREFIXES.items():
        if name.startswith(prefix):
            name = short + name[len(prefix) :]
    if name in PIPELINE_OPS:
        return Op(name, None, name)
    if "." in name:
        ns, _, attr = name.partition(".")
        if ns in NAMESPACES and attr in _namespace_functions(ns):
            return Op(name, NAMESPACES[ns], attr)
    else:
        hits = [ns for ns in NAMESPACES if name in _namespace_functions(ns)]
        if len(hits) == 1:
            return Op(f"{hits[0]}.{name}", NAMESPACES[hits[0]], name)
        if len(hits) > 1:
            raise ValueError(
                f"op {text!r} is ambiguous: write one of "
                f"{', '.join(f'{ns}.{name}' for ns in hits)}."
            )
    everything = all_ops()
    close = difflib.get_close_matches(name, everything, n=3, cutoff=0.6)
    close += [n for n in everything if n.endswith("." + name.rsplit(".", 1)[-1])]
    hint = f" Did you mean {' or '.join(dict.fromkeys(close))}?" if close else ""
    raise ValueError(
        f"unknown op {text!r}: ops are the pipeline's own ({', '.join(PIPELINE_OPS)}) or "
        f"functions of {', '.join(f'{n}.' for n in NAMESPACES)} (`bigimg ops` lists them).{hint}"
    )
