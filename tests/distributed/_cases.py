"""One call per public function: the table the cluster-equivalence tests sweep.

Each entry maps a public name to ``call(func, v)``: ``func`` is the public function
and ``v(name)`` opens one of the session's raw volumes lazily (see ``conftest.py``).
A call returns whatever the function returns (lazy arrays, tuples, dicts, lists,
floats); :func:`materialize` computes it all at once with the active scheduler.

``NDIMAGE`` also holds entries for the scipy.ndimage names that bigimg does not export
yet: a name is tested as soon as it appears in ``bigimg.ndimage.__all__``, and a name
that appears there without an entry here fails ``test_every_public_name_has_a_case``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import dask
import numpy as np
import scipy.ndimage as ndi

from bigimg import measure, stats

Call = Callable[[Callable, Callable[[str], Any]], Any]

KERNEL = np.random.default_rng(7).random((3, 4, 3))
FOOTPRINT = ndi.generate_binary_structure(3, 1)
INDEX = [1, 2, 3, 5, 8, 40]  # label 40 does not exist


# Module-level callables (pickled by reference: the workers import this module).
def _line_diff(line_in: np.ndarray, line_out: np.ndarray) -> None:
    """generic_filter1d kernel: difference of the two neighbours of each voxel."""
    line_out[...] = line_in[2:] - line_in[:-2]


def _second_derivative(input, axis, output, mode, cval):
    return ndi.correlate1d(input, [1.0, -2.0, 1.0], axis, output, mode, cval)


def _shear(coords: tuple[float, ...]) -> tuple[float, ...]:
    """geometric_transform mapping: a shear of the rows by the planes plus a shift."""
    z, y, x = coords
    return (z, y + 0.3 * z - 1.0, x + 0.5)


def _coordinates() -> np.ndarray:
    rng = np.random.default_rng(11)
    return rng.uniform(-1.0, 25.0, size=(3, 4, 50))


def _per_label(f, v):
    """The per-label measurements: smooth values over some labels (one of them absent)."""
    return f(v("smooth"), v("labels"), INDEX)


NDIMAGE: dict[str, Call] = {
    # filters
    "convolve": lambda f, v: f(v("f32"), KERNEL, mode="mirror"),
    "convolve1d": lambda f, v: f(v("f32"), [1.0, 2.0, -1.0], axis=1, mode="wrap"),
    "correlate": lambda f, v: f(v("u16"), KERNEL > 0.5, mode="constant", cval=7),
    "correlate1d": lambda f, v: f(v("f32"), [0.5, 1.0, 0.25, 2.0], axis=0, origin=1),
    "gaussian_filter": lambda f, v: f(v("f32"), (1.5, 1.0, 2.0)),
    "gaussian_filter1d": lambda f, v: f(v("f32"), 2.0, axis=0, order=1, mode="nearest"),
    "gaussian_gradient_magnitude": lambda f, v: f(v("f32"), 1.0),
    "gaussian_laplace": lambda f, v: f(v("f32"), 1.0, mode="grid-wrap"),
    "generate_binary_structure": lambda f, v: f(3, 2),
    "generic_filter": lambda f, v: f(v("u8"), np.ptp, size=(2, 3, 2)),
    "generic_filter1d": lambda f, v: f(v("f32"), _line_diff, 3, axis=1),
    "generic_gradient_magnitude": lambda f, v: f(v("f32"), ndi.sobel),
    "generic_laplace": lambda f, v: f(v("f32"), _second_derivative),
    "iterate_structure": lambda f, v: f(FOOTPRINT, 2),
    "laplace": lambda f, v: f(v("f32")),
    "maximum_filter": lambda f, v: f(v("u16"), size=(3, 2, 4)),
    "maximum_filter1d": lambda f, v: f(v("u16"), 4, axis=0),
    "median_filter": lambda f, v: f(v("u8"), size=3),
    "minimum_filter": lambda f, v: f(v("f32"), footprint=FOOTPRINT, mode="reflect"),
    "minimum_filter1d": lambda f, v: f(v("f32"), 5, axis=2, mode="constant", cval=-1.0),
    "percentile_filter": lambda f, v: f(v("f32"), 30, size=3),
    "prewitt": lambda f, v: f(v("f32"), axis=0),
    "rank_filter": lambda f, v: f(v("u16"), -2, footprint=FOOTPRINT),
    "sobel": lambda f, v: f(v("f32"), axis=1),
    "uniform_filter": lambda f, v: f(v("f32"), 5),
    "uniform_filter1d": lambda f, v: f(v("f32"), 3, axis=2),
    "vectorized_filter": lambda f, v: f(v("f32"), np.mean, size=3),
    # fourier (the input is already a Fourier transform for scipy)
    "fourier_ellipsoid": lambda f, v: f(v("f32"), 5.0),
    "fourier_gaussian": lambda f, v: f(v("f32"), 2.0),
    "fourier_shift": lambda f, v: f(v("f32"), (1.0, 2.0, -3.0)),
    "fourier_uniform": lambda f, v: f(v("f32"), 3.0),
    # labels and measurements (several of these compute when called)
    "label": lambda f, v: f(v("mask"), FOOTPRINT),
    "find_objects": lambda f, v: f(v("labels")),
    "value_indices": lambda f, v: f(v("labels"), ignore_value=0),
    "labeled_comprehension": lambda f, v: f(v("smooth"), v("labels"), INDEX, np.ptp, float, -1.0),
    "label_statistics": lambda f, v: f(v("smooth"), v("labels"), INDEX),
    "histogram": lambda f, v: f(v("f32"), -300.0, 300.0, 20, v("labels"), INDEX),
    "center_of_mass": _per_label,
    "extrema": _per_label,
    "maximum": _per_label,
    "maximum_position": _per_label,
    "mean": _per_label,
    "median": _per_label,
    "minimum": _per_label,
    "minimum_position": _per_label,
    "standard_deviation": _per_label,
    "sum": _per_label,
    "sum_labels": _per_label,
    "variance": _per_label,
    # distance transforms
    "distance_transform_bf": lambda f, v: f(v("mask"), "taxicab"),
    "distance_transform_cdt": lambda f, v: f(v("mask"), "taxicab", return_indices=True),
    "distance_transform_edt": lambda f, v: f(v("mask"), (1.5, 1.0, 0.5), return_indices=True),
    # fill holes, propagation
    "binary_fill_holes": lambda f, v: f(v("mask")),
    "binary_propagation": lambda f, v: f(v("seeds"), mask=v("mask")),
    # binary morphology
    "binary_erosion": lambda f, v: f(v("mask"), iterations=2),
    "binary_dilation": lambda f, v: f(v("seeds"), FOOTPRINT, iterations=3, mask=v("mask")),
    "binary_opening": lambda f, v: f(v("mask"), iterations=2),
    "binary_closing": lambda f, v: f(v("mask"), FOOTPRINT, border_value=1),
    "binary_hit_or_miss": lambda f, v: f(v("mask"), FOOTPRINT),
    # grey morphology
    "grey_erosion": lambda f, v: f(v("u16"), size=(3, 2, 3)),
    "grey_dilation": lambda f, v: f(v("f32"), footprint=FOOTPRINT),
    "grey_opening": lambda f, v: f(v("u16"), size=3),
    "grey_closing": lambda f, v: f(v("u8"), size=(2, 3, 3), mode="nearest"),
    "white_tophat": lambda f, v: f(v("f32"), size=3),
    "black_tophat": lambda f, v: f(v("u16"), footprint=FOOTPRINT),
    "morphological_gradient": lambda f, v: f(v("f32"), size=3),
    "morphological_laplace": lambda f, v: f(v("f32"), footprint=FOOTPRINT),
    # geometry and splines
    "affine_transform": lambda f, v: f(
        v("smooth"), np.diag([0.9, 1.1, 1.0]), offset=(1.0, -1.0, 0.5), order=1
    ),
    "geometric_transform": lambda f, v: f(v("smooth"), _shear, order=1),
    "map_coordinates": lambda f, v: f(v("smooth"), _coordinates(), order=3),
    "rotate": lambda f, v: f(v("smooth"), 30.0, axes=(1, 2), reshape=False, order=1),
    "shift": lambda f, v: f(v("smooth"), (1.5, -2.0, 0.3), mode="nearest"),
    "zoom": lambda f, v: f(v("smooth"), (0.5, 1.3, 1.0), order=1),
    "spline_filter": lambda f, v: f(v("smooth"), order=3),
    "spline_filter1d": lambda f, v: f(v("smooth"), order=2, axis=0),
    "watershed_ift": lambda f, v: f(v("u8"), v("markers")),
}

MEASURE: dict[str, Call] = {
    "clear_border": lambda f, v: f(v("labels"), buffer_size=1),
    "keep_largest": lambda f, v: f(v("labels"), k=3),
    "regionprops_table": lambda f, v: f(
        v("labels"),
        v("smooth"),
        properties=("label", "area", "bbox", "centroid", "intensity_mean", "intensity_max"),
    ),
    "relabel_sequential": lambda f, v: f(v("labels") * 3, offset=5),
    "remove_small_objects": lambda f, v: f(v("mask"), max_size=10, connectivity=2),
    # a LabelMap is applied block by block on the workers
    "LabelMap": lambda f, v: v("labels").map_blocks(
        f(np.array([1, 2, 5, 9]), np.array([4, 3, 2, 1], dtype=np.int32)), dtype=np.int32
    ),
}
#: Public names of bigimg.measure that are data, not functions.
MEASURE_CONSTANTS = {"PROPERTIES", "INTENSITY_PROPERTIES"}

STATS: dict[str, Call] = {
    "ball": lambda f, v: f(3),
    "block_reduce": lambda f, v: f(v("f32"), (2, 3, 2), np.mean),
    "granulometry": lambda f, v: f(v("mask"), [1]),
    "histogram": lambda f, v: f(v("f32"), bins=20),
    "image_histogram": lambda f, v: f(v("u16")),
    # the reducer of block_reduce(func="mode"), run in the workers' blocks
    "mode_reduce": lambda f, v: stats.block_reduce(v("labels"), (2, 5, 2), f),
    "percentile": lambda f, v: f(v("f32"), [5, 50, 95]),
    "quantile": lambda f, v: f(v("u16"), 0.3, method="nearest"),
    "radial_profile": lambda f, v: f(v("smooth"), center=(10, 12.5, 11)),
    "rescale_intensity": lambda f, v: f(v("u16"), out_range=(0.0, 1.0)),
    "scoreatpercentile": lambda f, v: f(v("f32"), 40),
    "threshold_isodata": lambda f, v: f(v("smooth")),
    "threshold_li": lambda f, v: f(v("smooth")),
    "threshold_mean": lambda f, v: f(v("smooth")),
    "threshold_minimum": lambda f, v: f(v("u8")),
    "threshold_otsu": lambda f, v: f(v("smooth")),
    "threshold_triangle": lambda f, v: f(v("u16")),
    "threshold_yen": lambda f, v: f(v("smooth")),
}

RESTORATION: dict[str, Call] = {
    "denoise_tv_chambolle": lambda f, v: f(v("f32"), weight=20.0, max_num_iter=10),
    "unsharp_mask": lambda f, v: f(v("smooth"), 1.0, 0.5),
    "wiener": lambda f, v: f(v("f32"), 3),
}

TABLES = {"ndimage": NDIMAGE, "measure": MEASURE, "stats": STATS, "restoration": RESTORATION}


def public_functions(module) -> list[str]:
    """The names of ``module.__all__`` that are not data constants."""
    skip = MEASURE_CONSTANTS if module is measure else set()
    return [n for n in module.__all__ if n not in skip]


def materialize(result: Any) -> Any:
    """Compute every dask collection inside ``result`` in one call; plain data for the rest."""
    (computed,) = dask.compute(result)
    return _plain(computed)


def _plain(x: Any) -> Any:
    if isinstance(x, measure.LabelMap):
        return ("LabelMap", np.asarray(x.in_values), np.asarray(x.out_values))
    if isinstance(x, dict):
        return {k: _plain(val) for k, val in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_plain(i) for i in x)
    if hasattr(x, "to_dict") and hasattr(x, "columns"):  # a DataFrame
        return {c: np.asarray(x[c]) for c in x.columns}
    return x


def assert_same(got: Any, expected: Any, where: str = "result") -> None:
    """Ints and bools bit-equal, floats within 1e-6 relative; same structure and dtypes."""
    assert type(got) is type(expected), f"{where}: {type(got)} != {type(expected)}"
    if isinstance(expected, dict):
        assert list(got) == list(expected), f"{where}: keys {list(got)} != {list(expected)}"
        for k in expected:
            assert_same(got[k], expected[k], f"{where}[{k!r}]")
    elif isinstance(expected, list | tuple):
        assert len(got) == len(expected), f"{where}: length {len(got)} != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, np.ndarray) and expected.dtype == object:  # e.g. histograms
        assert got.dtype == object and got.shape == expected.shape, f"{where}: shape differs"
        for i in np.ndindex(expected.shape):
            assert_same(got[i], expected[i], f"{where}[{i}]")
    elif isinstance(expected, np.ndarray | np.generic):
        assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype} != {expected.dtype}"
        assert np.shape(got) == np.shape(expected), f"{where}: shape differs"
        if expected.dtype.kind in "fc":
            np.testing.assert_allclose(
                got, expected, rtol=1e-6, atol=0, equal_nan=True, err_msg=where
            )
        else:
            np.testing.assert_array_equal(got, expected, err_msg=where)
    elif isinstance(expected, float):
        assert np.isclose(got, expected, rtol=1e-9, atol=0) or got == expected, (
            f"{where}: {got} != {expected}"
        )
    elif isinstance(expected, numbers.Number | str | slice | type(None)):
        assert got == expected, f"{where}: {got!r} != {expected!r}"
    else:
        raise AssertionError(f"{where}: no comparison for {type(expected).__name__}")
