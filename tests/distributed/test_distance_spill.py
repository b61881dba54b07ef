"""The distance transforms' exchanges through disk, run by the cluster's workers.

The exchanges go through temporary files when a layer of chunks is big; the session's
volumes are small, so the threshold is lowered in the client (where the graph is
built). The workers (other processes) then write and read the files in ``temp_dir``,
which they share with the client here (one machine).
"""

from __future__ import annotations

import dask
import numpy as np
import scipy.ndimage as ndi

from bigimg import ndimage
from bigimg._distance import _exchange as _distance_spill
from bigimg.testing import count_computes
from tests.distributed._cluster import scheduler_transitions


def test_edt_exchanges_through_disk_on_the_cluster(client, volumes, monkeypatch, tmp_path):
    monkeypatch.setattr(_distance_spill, "SPILL_BUDGETS", 0)
    monkeypatch.setattr(_distance_spill, "SPILL_MIN_BYTES", 0)
    mask = volumes.open("mask", chunks=(5, 13, 9))  # 5 layers along axis 0
    sampling = (1.5, 1.0, 0.5)
    d, i = ndimage.distance_transform_edt(
        mask, sampling=sampling, return_indices=True, temp_dir=tmp_path
    )
    cdt = ndimage.distance_transform_cdt(mask, metric="taxicab", temp_dir=tmp_path)
    assert any(str(k[0]).startswith("exchange-read") for k in d.__dask_graph__())
    before = scheduler_transitions(client)
    with count_computes() as local:
        got_d, got_i, got_cdt = dask.compute(d, i, cdt)
    assert local.tasks == 0 and scheduler_transitions(client) > before
    ref_d, ref_i = ndi.distance_transform_edt(
        volumes.data["mask"], sampling=sampling, return_indices=True
    )
    np.testing.assert_array_equal(got_i, ref_i)
    np.testing.assert_array_equal(got_d, ref_d)
    np.testing.assert_array_equal(
        got_cdt, ndi.distance_transform_cdt(volumes.data["mask"], metric="taxicab")
    )
    assert list(tmp_path.iterdir()) == []
