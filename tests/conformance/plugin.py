"""A pytest plugin that runs scipy's ``scipy.ndimage.tests`` through bigimg.

Loaded with ``-p tests.conformance.plugin`` in a pytest run of the installed scipy's
tests (``--pyargs scipy.ndimage.tests``). For the session, every scipy.ndimage name
bigimg implements is replaced by a wrapper that

* turns the test's input image, and ``labels``/``markers``/``mask`` of the image's
  shape, into dask arrays: one chunk per array (``BIGIMG_CONFORMANCE_CHUNKS=1``) or
  about three chunks per axis (``=3``); structures, weights, footprints, coordinates
  and ``output=``/``distances=``/``indices=`` arrays stay as the test gave them;
* calls the bigimg function with the test's arguments;
* computes whatever comes back (``dask.compute`` over tuples and lists) and hands it
  to the unmodified test, whose assertions decide.

Calls that bigimg makes to scipy itself (its in-memory kernels and argument probes)
reach the real scipy functions. Each test's outcome and the bigimg functions it called
are written as JSON to ``BIGIMG_CONFORMANCE_REPORT``; ``BIGIMG_CONFORMANCE_SHARD=i/n``
keeps the tests whose id hashes to ``i`` modulo ``n`` (CI's fixed sample); :mod:`tests.conformance.report`
turns that into the per-function table. Known failures (``known_failures.py``) are
marked ``xfail(strict=True)``, so a fix shows up as an XPASS failure.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
import zlib

import numpy as np
import pytest

CHUNKS_ENV = "BIGIMG_CONFORMANCE_CHUNKS"
REPORT_ENV = "BIGIMG_CONFORMANCE_REPORT"
SHARD_ENV = "BIGIMG_CONFORMANCE_SHARD"
#: parameters that are image-shaped companions of the input (converted when same shape)
COMPANIONS = ("labels", "markers", "mask")

#: per thread, > 0 while bigimg runs in it: its own scipy calls go to the real scipy.
#: Per thread, so that a test calling a function from several threads at once (scipy's
#: ``TestThreading``) sends every call to bigimg, not the later ones to scipy.
_state = threading.local()
_lock = threading.Lock()  # guards ``_called`` (tests may call from several threads)
_called: set[str] = set()
_records: list[dict] = []


def _chunks_for(shape: tuple[int, ...], per_axis: int) -> tuple[int, ...]:
    if per_axis <= 1:
        return tuple(max(n, 1) for n in shape)
    return tuple(max(1, -(-n // per_axis)) for n in shape)


def _to_dask(value, per_axis: int, shape=None):
    """``value`` as a dask array of the run's chunking, or unchanged if not an image."""
    import dask.array as da

    if isinstance(value, da.Array) or value is None:
        return value
    if not isinstance(value, np.ndarray | list | tuple):
        return value
    try:
        arr = np.array(value)  # a copy: scipy tests may pass the input as output too
    except (ValueError, TypeError):
        return value
    if arr.dtype == object or (shape is not None and arr.shape != shape):
        return value
    return da.from_array(arr, chunks=_chunks_for(arr.shape, per_axis))


def _wrap(name: str, original, implementation, per_axis: int):
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):  # pragma: no cover - every scipy name has one
        signature = None
    first = next(iter(signature.parameters)) if signature else None

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if getattr(_state, "depth", 0):
            return original(*args, **kwargs)
        _state.depth = 1
        try:
            with _lock:
                _called.add(name)
            args, kwargs = _convert(signature, first, args, kwargs, per_axis)
            return _computed(implementation(*args, **kwargs))
        finally:
            _state.depth = 0

    return wrapper


def _convert(signature, first, args, kwargs, per_axis):
    if signature is None or first not in ("input", "arr"):
        return args, kwargs
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return args, kwargs  # let bigimg raise what it raises for a bad call
    arguments = bound.arguments
    image = arguments.get(first)
    converted = _to_dask(image, per_axis)
    arguments[first] = converted
    shape = getattr(converted, "shape", None)
    for key in COMPANIONS:
        if key in arguments and shape is not None:
            arguments[key] = _to_dask(arguments[key], per_axis, shape=shape)
    return bound.args, bound.kwargs


def _computed(result):
    import dask

    if isinstance(result, tuple | list) or dask.is_dask_collection(result):
        (out,) = dask.compute(result)
        return out
    return result


def install(per_axis: int) -> list[str]:
    """Replace scipy.ndimage's names by chunking wrappers around bigimg's; their names."""
    import scipy.ndimage as ndi
    from scipy._lib._array_api import xp_capabilities_table

    import bigimg.ndimage as bnd

    names = []
    for name in bnd.__all__:
        original = getattr(ndi, name, None)
        if original is None:
            continue
        wrapper = _wrap(name, original, getattr(bnd, name), per_axis)
        if original in xp_capabilities_table:  # the tests' array-API marks look it up
            xp_capabilities_table[wrapper] = xp_capabilities_table[original]
        setattr(ndi, name, wrapper)
        names.append(name)
    return names


def pytest_configure(config):
    import dask

    # for the whole session, not per call: a ``dask.config.set`` context is global, so
    # one thread leaving it would switch another thread's computation to the threaded
    # scheduler, whose worker threads would send bigimg's own scipy calls back to bigimg
    dask.config.set(scheduler="synchronous")
    per_axis = int(os.environ.get(CHUNKS_ENV, "3"))
    config._bigimg_names = install(per_axis)


def _node(item) -> str:
    """``test_module::Class::test[params]``: the id the known-failure list uses."""
    module = os.path.basename(item.location[0]).removesuffix(".py")
    return module + "::" + item.nodeid.split("::", 1)[-1]


def pytest_collection_modifyitems(config, items):
    from tests.conformance.known_failures import known_failure

    per_axis = int(os.environ.get(CHUNKS_ENV, "3"))
    shard = os.environ.get(SHARD_ENV)
    if shard:  # "i/n": the tests whose id hashes to i modulo n (a fixed sample)
        i, n = (int(v) for v in shard.split("/"))
        keep = [it for it in items if zlib.crc32(_node(it).encode()) % n == i]
        config.hook.pytest_deselected(items=[it for it in items if it not in keep])
        items[:] = keep
    for item in items:
        reason = known_failure(_node(item), per_axis)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _called.clear()
    yield


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        why = ""
        if report.failed and report.longrepr is not None:
            crash = getattr(report.longrepr, "reprcrash", None)
            why = crash.message if crash is not None else str(report.longrepr)
        module = os.path.basename(report.location[0]).removesuffix(".py")
        _records.append(
            {
                "nodeid": module + "::" + report.nodeid.split("::", 1)[-1],
                "when": report.when,
                "outcome": "xfailed"
                if hasattr(report, "wasxfail") and report.skipped
                else report.outcome,
                "why": why.splitlines()[0][:300] if why else getattr(report, "wasxfail", ""),
                "called": sorted(_called),
                "seconds": round(report.duration, 4),
            }
        )


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "w") as fh:
            json.dump({"chunks": os.environ.get(CHUNKS_ENV, "3"), "tests": _records}, fh)
