"""Progress: one switch (``progress=``, dask config ``bigimg.progress``) for the writers
and for the calls that compute when called, shown by one mechanism (bigimg._monitor)."""

from __future__ import annotations

import inspect

import dask
import dask.array as da
import numpy as np
import pytest

import bigimg
from bigimg import measure, ndimage, stats
from bigimg._monitor import progress_bar, resolve_progress, shows_progress


def _volume():
    rng = np.random.default_rng(0)
    return da.from_array(rng.random((20, 21, 22)), chunks=10)


def test_resolve_progress_follows_the_config_key():
    assert resolve_progress(None) is False  # pytest captures stderr: not a terminal
    with dask.config.set({"bigimg.progress": True}):
        assert resolve_progress(None) is True
        assert resolve_progress(False) is False  # the argument wins
    with dask.config.set({"bigimg.progress": "yes"}):
        with pytest.raises(TypeError, match="dask config 'bigimg.progress' must be True"):
            resolve_progress(None)
    with pytest.raises(TypeError, match="`progress` must be True, False or None; got 1"):
        resolve_progress(1)


LABELS = ndimage.label(_volume() > 0.5)[0]


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda x: ndimage.label(x > 0.5), "label"),
        (lambda x: stats.threshold_otsu(x), "threshold_otsu"),
        (lambda x: stats.percentile(x, 50), "percentile"),
        (lambda x: measure.regionprops_table(LABELS, x, properties=["area"]), "regionprops_table"),
        (lambda x: measure.remove_small_objects(x > 0.5, max_size=3), "remove_small_objects"),
    ],
)
def test_calls_that_compute_show_a_bar_when_switched_on(call, name, capsys):
    x = _volume()
    call(x)
    assert name not in capsys.readouterr().err  # off by default when not a terminal
    with dask.config.set({"bigimg.progress": True}):
        call(x)
    err = capsys.readouterr().err
    assert f"{name}:" in err and "task" in err
    # the outermost bar only: remove_small_objects labels, and shows no label bar
    assert name == "label" or "label:" not in err


def test_writers_follow_the_same_switch(tmp_path, capsys):
    x = _volume()
    bigimg.save_zarr(x, tmp_path / "a.zarr")
    assert "save_zarr" not in capsys.readouterr().err
    with dask.config.set({"bigimg.progress": True}):
        bigimg.save_zarr(x, tmp_path / "b.zarr")
    assert "save_zarr:" in capsys.readouterr().err


def test_wrapped_calls_keep_name_signature_and_result():
    assert (
        ndimage.label.__name__ == "label"
        and "structure" in inspect.signature(ndimage.label).parameters
    )
    assert "hist" in inspect.signature(stats.threshold_otsu).parameters
    x = _volume()
    with dask.config.set({"bigimg.progress": True}):
        n_on = ndimage.label(x > 0.5)[1]
    assert n_on == ndimage.label(x > 0.5)[1]


def test_progress_bar_off_and_decorator_pass_errors_through():
    with progress_bar(False, "nothing"):
        assert int(da.ones(4, chunks=2).sum().compute()) == 4

    @shows_progress
    def fails():
        raise ValueError("boom")

    with dask.config.set({"bigimg.progress": True}), pytest.raises(ValueError, match="boom"):
        fails()
