"""Region properties derived from a merged per-label table, vectorised over labels.

The table (:mod:`bigimg._tables`) holds per label: voxel count, bounding box, raw
moments about the box corner, intensity sum, centred sum of squares, min and max and
intensity-weighted moments. :class:`Derived` turns it into scikit-image's properties;
:func:`assemble` lays them out as scikit-image's columns. Used by the in-memory table
(:mod:`bigimg.measure._regionprops`) and by each partition of the lazy one
(:mod:`bigimg.measure._frame`).
"""

from __future__ import annotations

import math

import numpy as np

from bigimg._tables import shift_moments

__all__ = ["Derived", "add_columns", "assemble", "extra_kind", "finish_table"]


# ------------------------------------------------------------------ derived values
def _axis_index(ndim: int, order: int, powers) -> int:
    return int(np.ravel_multi_index(tuple(powers), (order + 1,) * ndim))


def _scale(mom: np.ndarray, order: int, spacing: np.ndarray) -> np.ndarray:
    ndim = spacing.size
    exps = np.indices((order + 1,) * ndim).reshape(ndim, -1).T
    return mom * np.prod(spacing[None, :] ** exps, axis=1)[None, :]


def _centroid_local(mom, order, ndim):
    m0 = mom[:, 0]
    idx = [_axis_index(ndim, order, np.eye(ndim, dtype=int)[d]) for d in range(ndim)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return mom[:, idx] / m0[:, None]


def _central(mom, order, ctr):
    return shift_moments(mom, -ctr, order)


def _normalized(mu, order, spacing):
    ndim = spacing.size
    exps = np.indices((order + 1,) * ndim).reshape(ndim, -1).T
    tot = exps.sum(axis=1)
    scale = spacing.min()
    mu0 = mu[:, :1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        nu = (mu / scale ** tot[None, :]) / mu0 ** (tot[None, :] / ndim + 1)
    nu[:, tot < 2] = np.nan
    return nu


def _hu(nu: np.ndarray) -> np.ndarray:
    """The seven Hu invariants of 2-D normalised central moments ``nu`` (n, 4, 4)."""
    n20, n02, n11 = nu[:, 2, 0], nu[:, 0, 2], nu[:, 1, 1]
    n30, n03, n21, n12 = nu[:, 3, 0], nu[:, 0, 3], nu[:, 2, 1], nu[:, 1, 2]
    a, b = n30 + n12, n21 + n03
    c, d = n30 - 3 * n12, 3 * n21 - n03
    return np.stack(
        [
            n20 + n02,
            (n20 - n02) ** 2 + 4 * n11**2,
            c**2 + d**2,
            a**2 + b**2,
            c * a * (a**2 - 3 * b**2) + d * b * (3 * a**2 - b**2),
            (n20 - n02) * (a**2 - b**2) + 4 * n11 * a * b,
            d * a * (a**2 - 3 * b**2) - c * b * (3 * a**2 - b**2),
        ],
        axis=1,
    )


def _inertia(mu, order, ndim):
    mu0 = mu[:, 0]
    eye = np.eye(ndim, dtype=int)
    sq = np.stack([mu[:, _axis_index(ndim, order, 2 * eye[d])] for d in range(ndim)], axis=1)
    t = np.zeros((mu.shape[0], ndim, ndim))
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(ndim):
            t[:, i, i] = (sq.sum(axis=1) - sq[:, i]) / mu0
            for j in range(i + 1, ndim):
                v = -mu[:, _axis_index(ndim, order, eye[i] + eye[j])] / mu0
                t[:, i, j] = t[:, j, i] = v
    return t


def _eigvals(t):
    ev = np.linalg.eigvalsh(t) if t.shape[0] else np.zeros(t.shape[:2])
    return np.clip(ev, 0, None)[:, ::-1]


class Derived:
    """Columns computed from the merged table, memoised per property."""

    def __init__(self, table, spacing, medians):
        self.t = table
        self.s = spacing
        self.ndim = spacing.size
        self.medians = medians
        self.cache: dict = {}

    def get(self, name):
        if name not in self.cache:
            self.cache[name] = getattr(self, "p_" + name)()
        return self.cache[name]

    # geometry
    def p_label(self):
        return self.t["labels"].astype(np.int64)

    def p_num_pixels(self):
        return self.t["count"].astype(np.int64)

    def p_area(self):
        return self.t["count"] * float(np.prod(self.s))

    def p_bbox(self):
        return np.concatenate([self.t["lo"], self.t["hi"] + 1], axis=1)

    def p_slice(self):
        out = np.empty(self.t["labels"].size, object)
        for i, (a, b) in enumerate(
            zip(self.t["lo"].tolist(), (self.t["hi"] + 1).tolist(), strict=True)
        ):
            out[i] = tuple(slice(x, y) for x, y in zip(a, b, strict=True))
        return out

    def p_area_bbox(self):
        return np.prod(self.t["hi"] + 1 - self.t["lo"], axis=1) * float(np.prod(self.s))

    def p_extent(self):
        return self.get("area") / self.get("area_bbox")

    def p_equivalent_diameter_area(self):
        return (2 * self.ndim * self.get("area") / math.pi) ** (1 / self.ndim)

    # unweighted moments
    def _mom(self, weighted=False):
        key = "_wmom" if weighted else "_mom"
        if key not in self.cache:
            col, order = (
                ("wmom", self.t["wmom_order"]) if weighted else ("mom", self.t["mom_order"])
            )
            self.cache[key] = (_scale(self.t[col], order, self.s), order)
        return self.cache[key]

    def _grid(self, flat, order):
        return flat.reshape((-1,) + (order + 1,) * self.ndim)

    def p_centroid_local(self):
        mom, order = self._mom()
        return _centroid_local(mom, order, self.ndim)

    def p_centroid(self):
        return self.t["lo"] * self.s + self.get("centroid_local")

    def p_moments(self):
        mom, order = self._mom()
        return self._grid(mom, order)

    def _mu(self, weighted=False):
        key = "_wmu" if weighted else "_mu"
        if key not in self.cache:
            mom, order = self._mom(weighted)
            ctr = self.get("centroid_weighted_local" if weighted else "centroid_local")
            self.cache[key] = (_central(mom, order, ctr), order)
        return self.cache[key]

    def p_moments_central(self):
        mu, order = self._mu()
        return self._grid(mu, order)

    def p_moments_normalized(self):
        mu, order = self._mu()
        return self._grid(_normalized(mu, order, self.s), order)

    def p_moments_hu(self):
        return _hu(self.get("moments_normalized"))

    def p_inertia_tensor(self):
        mu, order = self._mu()
        return _inertia(mu, order, self.ndim)

    def p_inertia_tensor_eigvals(self):
        return _eigvals(self.get("inertia_tensor"))

    def _lengths(self, major):
        ev = self.get("inertia_tensor_eigvals")
        if self.ndim == 2:
            return 4 * np.sqrt(ev[:, 0] if major else ev[:, -1])
        if self.ndim == 3:
            sign = np.array([1, 1, -1]) if major else np.array([-1, 1, 1])
            return np.sqrt(np.clip(10 * (ev * sign).sum(axis=1), 0, None))
        raise ValueError(
            f"axis lengths are defined for 2-D and 3-D labels only; got {self.ndim}-D."
        )

    def p_axis_major_length(self):
        return self._lengths(True)

    def p_axis_minor_length(self):
        return self._lengths(False)

    def p_eccentricity(self):
        ev = self.get("inertia_tensor_eigvals")
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ev[:, 0] == 0, 0.0, np.sqrt(1 - ev[:, 1] / ev[:, 0]))

    def p_orientation(self):
        t = self.get("inertia_tensor")
        a, b, c = t[:, 0, 0], t[:, 0, 1], t[:, 1, 1]
        flat = np.where(b < 0, math.pi / 4, -math.pi / 4)
        return np.where(a - c == 0, flat, 0.5 * np.arctan2(-2 * b, c - a))

    # intensity
    def p_intensity_mean(self):
        return self.t["sum"].astype(np.float64) / self.t["count"]

    def p_intensity_min(self):
        return self.t["vmin"].astype(self.t["dtype"]).astype(np.float64)

    def p_intensity_max(self):
        return self.t["vmax"].astype(self.t["dtype"]).astype(np.float64)

    def p_intensity_std(self):
        return np.sqrt(self.t["m2"] / self.t["count"])

    def p_intensity_median(self):
        return np.asarray(self.medians, np.float64)

    def p_centroid_weighted_local(self):
        mom, order = self._mom(True)
        return _centroid_local(mom, order, self.ndim)

    def p_centroid_weighted(self):
        return self.t["lo"] * self.s + self.get("centroid_weighted_local")

    def p_moments_weighted(self):
        mom, order = self._mom(True)
        return self._grid(mom, order)

    def p_moments_weighted_central(self):
        mu, order = self._mu(True)
        return self._grid(mu, order)

    def p_moments_weighted_normalized(self):
        mu, order = self._mu(True)
        return self._grid(_normalized(mu, order, self.s), order)

    def p_moments_weighted_hu(self):
        return _hu(self.get("moments_weighted_normalized"))


# ----------------------------------------------------------------------- assembling
def add_columns(name, values, kind, separator, out):
    if kind is object:
        col = np.empty(len(values), object)
        for i, v in enumerate(values):
            col[i] = v
        out[name] = col
        return
    arr = np.asarray(values)
    if arr.ndim == 1:
        out[name] = arr.astype(kind)
        return
    for ind in np.ndindex(arr.shape[1:]):
        out[separator.join(map(str, (name,) + ind))] = arr[(slice(None),) + ind].astype(kind)


def extra_kind(values):
    try:
        arr = np.asarray(values)
    except ValueError:
        return object
    return object if arr.dtype == object else arr.dtype.type


def assemble(table, *, names, kinds, spacing, separator, medians=None, values=None) -> dict:
    """scikit-image's columns for ``names`` from a merged ``table``.

    ``kinds`` maps each name to its column type; ``values`` holds already computed
    values (crop properties, extra properties) by name.
    """
    derived = Derived(table, spacing, medians)
    values = values or {}
    out: dict = {}
    for name in names:
        vals = values[name] if name in values else derived.get(name)
        add_columns(name, vals, kinds[name], separator, out)
    return out


def finish_table(table, *, mom_order, wmom_order, dtype, **assemble_kwargs) -> dict:
    """:func:`assemble` on a table straight from :mod:`bigimg._tables` (one partition)."""
    table = dict(table, mom_order=mom_order, wmom_order=wmom_order, dtype=dtype)
    return assemble(table, **assemble_kwargs)
