"""Every public function gives the same result on the cluster as with the local scheduler.

The sweep follows the modules' ``__all__``: a new public name without an entry in
``_cases.py`` fails here instead of going untested. Each call runs twice on the same
raw-file inputs: once under ``scheduler="sync"`` (the reference) and once with the
cluster's client as the default scheduler. In the cluster run

- no task may run in the client process (the eager steps of ``label``,
  ``find_objects``, thresholds, ... must use the client too),
- the client process may not map the raw files (the workers read them), and
- when the reference ran dask tasks, the workers must have run tasks.
"""

from __future__ import annotations

import dask
import numpy as np
import pytest
import scipy.ndimage as ndi

from bigimg import measure, ndimage, restoration, stats
from bigimg.testing import count_computes
from tests.distributed import _cases
from tests.distributed._cluster import client_cannot_map, scheduler_transitions

MODULES = {"ndimage": ndimage, "measure": measure, "stats": stats, "restoration": restoration}
SWEEP = [(m, name) for m, mod in MODULES.items() for name in _cases.public_functions(mod)]


@pytest.mark.parametrize("module", list(MODULES))
def test_every_public_name_has_a_case(module):
    missing = set(_cases.public_functions(MODULES[module])) - set(_cases.TABLES[module])
    assert not missing, (
        f"bigimg.{module} exports {sorted(missing)} but tests/distributed/_cases.py has no "
        f"call for them in {module.upper()}: add one so the cluster test covers them."
    )


@pytest.mark.parametrize("module", list(MODULES))
def test_no_stale_cases(module):
    """Entries name public functions (or, for ndimage, scipy.ndimage names still to come)."""
    known = set(_cases.public_functions(MODULES[module]))
    if module == "ndimage":
        known |= set(ndi.__all__)
    stale = set(_cases.TABLES[module]) - known
    assert not stale, f"_cases.{module.upper()} has entries for unknown names {sorted(stale)}"
    if module == "measure":
        for name in _cases.MEASURE_CONSTANTS:
            assert not callable(getattr(measure, name)), f"measure.{name} is a function: test it"


def test_client_is_the_default_scheduler(client):
    assert dask.base.get_scheduler() == client.get


@pytest.mark.parametrize("module,name", SWEEP, ids=[f"{m}.{n}" for m, n in SWEEP])
def test_same_result_as_local_scheduler(client, volumes, module, name):
    call = _cases.TABLES[module].get(name)
    assert call is not None, f"no case for bigimg.{module}.{name} in _cases.py"
    func = getattr(MODULES[module], name)

    with dask.config.set(scheduler="sync"), count_computes() as local_reference:
        expected = _cases.materialize(call(func, volumes.open))

    before = scheduler_transitions(client)
    with count_computes() as local, client_cannot_map(volumes.folder) as refused:
        got = _cases.materialize(call(func, volumes.open))
    assert not refused, f"the client mapped {refused}"
    assert local.tasks == 0, f"{local.tasks} tasks ran in the client process, not on the cluster"
    if local_reference.tasks:
        assert scheduler_transitions(client) > before, "the scheduler ran no task"
    _cases.assert_same(got, expected, f"{module}.{name}")


def test_eager_functions_compute_on_the_cluster(client, volumes):
    """A label count and a threshold come back as plain numbers from the workers' work."""
    before = scheduler_transitions(client)
    with count_computes() as local:
        labels, n = ndimage.label(volumes.open("mask"))
        t = stats.threshold_otsu(volumes.open("smooth"))
    assert local.tasks == 0
    assert scheduler_transitions(client) > before
    assert isinstance(n, int) and n == ndi.label(volumes.data["mask"])[1]
    assert isinstance(t, float)
    np.testing.assert_array_equal(labels.compute(), ndi.label(volumes.data["mask"])[0])


def test_thresholded_chain_streams_on_the_cluster(client, volumes):
    """smooth -> threshold -> opening ships region sources to the workers, not voxels."""
    ct = volumes.open("u16")
    smooth = ndimage.gaussian_filter(ct, 1.0, output=np.float32)
    opened = ndimage.binary_opening(np.where(smooth > 30000, True, False))
    assert len(opened.__dask_graph__()) == ct.npartitions  # one task per block
    before = scheduler_transitions(client)
    with client_cannot_map(volumes.folder) as refused, count_computes() as local:
        got = opened.compute()
    assert not refused and local.tasks == 0 and scheduler_transitions(client) > before
    data = volumes.data["u16"]
    expected = ndi.binary_opening(ndi.gaussian_filter(data, 1.0, output=np.float32) > 30000)
    np.testing.assert_array_equal(got, expected)


def test_sourceless_input_spills_on_the_cluster(client, volumes, tmp_path):
    """A large input without a region source is written by the workers and read back."""
    data = volumes.data["f32"]
    x = volumes.open("f32").map_blocks(np.copy, dtype=data.dtype)  # ends the source
    with dask.config.set({"bigimg.halo-spill-bytes": 0, "temporary-directory": str(tmp_path)}):
        out = ndimage.binary_opening(ndimage.gaussian_filter(x, 1.5) > 0.05)
    assert any(str(k).startswith("halo-spill-barrier") for k in out.__dask_graph__())
    before = scheduler_transitions(client)
    with client_cannot_map(volumes.folder) as refused, count_computes() as local:
        got = out.compute()
    assert not refused and local.tasks == 0 and scheduler_transitions(client) > before
    expected = ndi.binary_opening(ndi.gaussian_filter(data, 1.5) > 0.05)
    np.testing.assert_array_equal(got, expected)
