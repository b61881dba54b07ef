"""scipy's contract where its own test suite found bigimg differing (issue 12, §3).

Each case comes from a scipy ``scipy.ndimage.tests`` test that failed through
``tests/conformance``: a compiled (``LowLevelCallable``/PyCapsule) mapping for
``geometric_transform``, scipy's validation messages of ``vectorized_filter``, and the
Gaussian derivatives with ``scipy.ndimage`` patched (as the conformance plugin does).
Each test failed on the code before the fix.
"""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
from scipy import LowLevelCallable

from bigimg import ndimage

_ctest = pytest.importorskip("scipy.ndimage._ctest")
_cytest = pytest.importorskip("scipy.ndimage._cytest")

X = np.random.default_rng(12).random((11, 9))

MAPPINGS = {
    "capsule": lambda shift: _ctest.transform(shift),
    "capsule-no-signature": lambda shift: _cytest.transform(shift, with_signature=False),
    "low-level": lambda shift: LowLevelCallable(_cytest.transform(shift, with_signature=True)),
    "from-cython": lambda shift: LowLevelCallable.from_cython(
        _cytest, "_transform", _cytest.transform_capsule(shift)
    ),
}


@pytest.mark.parametrize("kind", list(MAPPINGS))
@pytest.mark.parametrize("chunks", [(11, 9), (4, 3), (2, 5)])
@pytest.mark.parametrize(("order", "mode"), [(0, "constant"), (1, "reflect"), (3, "grid-wrap")])
def test_geometric_transform_compiled_mapping(kind, chunks, order, mode):
    mapping = MAPPINGS[kind](0.37)
    ref = ndi.geometric_transform(X, mapping, (10, 12), order=order, mode=mode)
    got = ndimage.geometric_transform(
        da.from_array(X, chunks=chunks), mapping, (10, 12), order=order, mode=mode
    )
    np.testing.assert_array_equal(got.compute(), ref)


def test_geometric_transform_compiled_mapping_stays_in_process():
    got = ndimage.geometric_transform(X, MAPPINGS["capsule"](0.5))
    with pytest.raises(TypeError, match="compiled"):
        pickle.dumps(got.__dask_graph__())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(size=(1, 2), axes=(0, 1, 2)), "The length of `axes` may not exceed "),
        (dict(footprint=np.ones((2, 2)), axes=(0, 1, 2)), "The length of `axes` may not exceed "),
        (dict(size=(1,)), "`axes` must be compatible with the dimensionality"),
        (dict(size=(2,), axes=(0, 1)), "`axes` must be compatible with the dimensionality"),
    ],
)
def test_vectorized_filter_refuses_axes_in_scipys_words(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ndi.vectorized_filter(X, np.mean, **kwargs)
    with pytest.raises(ValueError, match=message):
        ndimage.vectorized_filter(da.from_array(X, chunks=4), np.mean, **kwargs)


def test_gaussian_gradient_magnitude_with_scipy_ndimage_patched(monkeypatch):
    """The twin picks its algorithm by name, not by identity with ``ndi.<name>``
    (with a periodic and a non-periodic mode it sums per-axis terms)."""
    modes = ["reflect", "wrap"]
    ref = ndi.gaussian_gradient_magnitude(X, 1.0, mode=modes)
    original = ndi.gaussian_gradient_magnitude
    monkeypatch.setattr(ndi, "gaussian_gradient_magnitude", lambda *a, **k: original(*a, **k))
    got = ndimage.gaussian_gradient_magnitude(da.from_array(X, chunks=4), 1.0, mode=modes)
    np.testing.assert_allclose(got.compute(), ref, rtol=1e-12, atol=1e-12)
