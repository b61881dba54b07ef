"""``bigimg run``: rehearse a checked pipeline on a small crop, plan what to store, run it.

1. **Rehearsal.** Every step runs first on a crop of at most 16 voxels per axis of each
   input (in a few blocks, one thread). A parameter the function refuses, a step whose
   result is a number where a volume is needed, a table property that does not fit the
   label image: each is reported with the step's name and exit code 2 before the real
   volume is touched. The rehearsal also shows which steps compute when called
   (``ndimage.label``, ``threshold`` with a method, ``stats.*``): *eager* steps.
2. **Plan.** A lazy step is recomputed by every computation that needs it. A step that
   is not cheap (cheap: an input, or an elementwise pipeline op over cheap volumes) is
   therefore stored once and read back when it feeds two or more consumers (steps,
   outputs, tables) or an eager step (which reads its input when called and again when
   its result is computed). If one of its consumers is a zarr output, the output itself
   is that store; otherwise a zarr store in the staging folder is, deleted at the end.
3. **Run.** Steps in file order, then the remaining outputs, then the tables, all
   written into staging folders (see :mod:`bigimg.cli._outputs`) and moved into place
   only when everything succeeded.

Every volume carries its input's physical frame (spacing and unit, see
:mod:`bigimg.cli._physical`): OME-Zarr outputs are labelled with it and region tables
get physical columns (``area_mm3``, ``centroid-0_mm``, ...) beside the voxel ones.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.callbacks import Callback

from bigimg._atomic import PARTIAL_TAG, progress_bar
from bigimg._monitor import ResourceMonitor, format_bytes
from bigimg.cli._common import UsageError, shape_text
from bigimg.cli._outputs import Staging, run_record, write_table, write_volume
from bigimg.cli._physical import (
    Frame,
    check_spacing,
    describe_frame,
    ome_options,
    physical_columns,
    step_frame,
)
from bigimg.cli._spec import Pipeline, PipelineError, Step
from bigimg.io import open_zarr, save_zarr

__all__ = [
    "Rehearsal",
    "describe_writes",
    "execute",
    "pipeline_hash",
    "plan_storage",
    "rehearse",
]

CROP = 16
_REFUSALS = (
    TypeError,
    ValueError,
    NotImplementedError,
    AttributeError,
    IndexError,
    KeyError,
    ImportError,
)


class _Computes(Callback):
    """Counts the dask computations started on a local scheduler."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _start(self, dsk) -> None:
        self.count += 1


@dataclass
class Rehearsal:
    """What the rehearsal learnt: each name's kind (``"volume"``/``"value"``), eagerness."""

    kinds: dict = field(default_factory=dict)
    eager: dict = field(default_factory=dict)
    skipped: set = field(default_factory=set)


def _prepare(step: Step, volumes: dict, values: dict):
    """The step's input and keyword arguments with references and dtypes resolved."""

    def get(name):
        return volumes[name] if name in volumes else values[name]

    kwargs = {}
    for key, value in step.params.items():
        if isinstance(value, str) and value.startswith("@"):
            value = get(value[1:])
        elif key in ("output", "dtype") and isinstance(value, str):
            value = np.dtype(value)
        elif isinstance(value, list) and any(isinstance(v, list) for v in value):
            value = np.asarray(value)
        kwargs[key] = value
    return get(step.input), kwargs


def _split(step: Step, result, shape):
    """(volume or None, value or None, extras dict) from what a function returned."""
    extras = {}
    if isinstance(result, tuple) and result and isinstance(result[0], da.Array):
        rest = result[1:]
        if len(rest) == 1 and isinstance(rest[0], dict):
            extras = dict(rest[0])
        else:
            names = (
                ["objects"]
                if step.op.attr == "label"
                else [f"result{i + 1}" for i in range(len(rest))]
            )
            extras = dict(zip(names, rest))
        result = result[0]
    if isinstance(result, np.ndarray) and result.shape == shape:
        result = da.from_array(result)
    if isinstance(result, da.Array):
        return result, None, extras
    return None, result, extras


def _problem(pipe: Pipeline, where: str, message: str) -> str:
    return f"{os.path.basename(pipe.file)}: {where}: {message}"


def rehearse(pipe: Pipeline) -> Rehearsal:
    """Run every step, output writer and table on a small crop; raise PipelineError.

    A step (writer, table) refused on the crop is refused for good only if it is also
    refused on a synthetic crop of varied content (two phases and noise, in each
    input's dtype): a refusal that depends on what the corner of the volume holds (a
    flat crop has no two histogram peaks for ``threshold value="minimum"``) is left
    for the run to meet on the whole volume. Every refusal is reported at once.
    """
    crops = {}
    for name, inp in pipe.inputs.items():
        crops[name] = np.asarray(inp.array[tuple(slice(0, min(n, CROP)) for n in inp.array.shape)])
    reh, refused = _rehearse_on(pipe, crops)
    if refused:
        _, again = _rehearse_on(pipe, {name: _varied(c) for name, c in crops.items()})
        refused = {where: text for where, text in refused.items() if where in again}
    if refused:
        raise PipelineError.of(list(refused.values()))
    return reh


def _varied(crop: np.ndarray) -> np.ndarray:
    """A crop-shaped volume of ``crop``'s dtype holding a bright ball on noise."""
    rng = np.random.default_rng(0)
    grid = np.indices(crop.shape, dtype=np.float64)
    centre = [(n - 1) / 2 for n in crop.shape]
    radius = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre)))
    ball = radius < max(crop.shape) / 3
    noise = rng.normal(0.0, 1.0, crop.shape)
    if crop.dtype == bool:
        return ball ^ (noise > 2.0)
    if crop.dtype.kind in "iu":
        top = min(np.iinfo(crop.dtype).max, 4000)
        values = np.where(ball, 0.7, 0.3) * top + noise * top * 0.05
        return np.clip(np.rint(values), 0, top).astype(crop.dtype)
    if crop.dtype.kind == "f":
        return (np.where(ball, 0.7, 0.3) + 0.05 * noise).astype(crop.dtype)
    return crop


def _rehearse_on(pipe: Pipeline, crops: dict) -> tuple[Rehearsal, dict]:
    """Rehearse on ``crops`` (input name -> array); return what it learnt and the refusals."""
    reh, refused = Rehearsal(), {}
    volumes, frames = {}, {}
    with dask.config.set(scheduler="synchronous"):
        for name, crop in crops.items():
            volumes[name] = da.from_array(crop, chunks=max(1, CROP // 2))
            reh.kinds[name], reh.eager[name] = "volume", False
            frames[name] = pipe.inputs[name].frame
        values: dict = {}
        for step in pipe.steps:
            if any(r in reh.skipped for r in step.refs):
                reh.skipped.add(step.name)
                continue
            counter = _Computes()
            try:
                arg, kwargs = _prepare(step, volumes, values)
                with counter:
                    result = step.op.func(arg, **kwargs)
                vol, value, _ = _split(step, result, arg.shape if hasattr(arg, "shape") else ())
            except _REFUSALS as exc:
                refused[step.where] = _problem(
                    pipe, step.where, f"{step.op.name} refused its arguments on a test crop: {exc}"
                )
                reh.skipped.add(step.name)
                continue
            except Exception:  # data-dependent (e.g. no two peaks in a crop): tell at run time
                reh.skipped.add(step.name)
                continue
            reh.eager[step.name] = counter.count > 0
            if vol is not None:
                volumes[step.name], reh.kinds[step.name] = vol, "volume"
                frames[step.name] = _frame_of(step, frames, arg, vol)
            else:
                values[step.name], reh.kinds[step.name] = value, "value"
        _rehearse_outputs(pipe, reh, (volumes, frames), refused)
    return reh, refused


def _frame_of(step: Step, frames: dict, arg, vol) -> Frame | None:
    """The physical frame of a step's volume: its input's, where the grid is the same."""
    shape = getattr(arg, "shape", None)
    if shape is None:
        return None
    grid_mode = step.params.get("grid_mode") is True
    return step_frame(frames.get(step.input), step.op.name, (shape, vol.shape), grid_mode)


def _rehearse_outputs(pipe: Pipeline, reh: Rehearsal, known: tuple, refused: dict) -> None:
    from bigimg.measure import regionprops_table

    volumes, frames = known

    for out in pipe.outputs:
        for name in (out.name, *out.labels):
            if reh.kinds.get(name) == "value":
                refused[out.where] = _problem(
                    pipe,
                    out.where,
                    f"{name!r} is a value, not a volume; only volumes can be written.",
                )
    for table in pipe.tables:
        for name in (table.labels, table.intensity):
            if name is not None and reh.kinds.get(name) == "value":
                refused[table.where] = _problem(
                    pipe, table.where, f"{name!r} is a value, not a volume."
                )
    with tempfile.TemporaryDirectory(prefix="bigimg-rehearsal-") as tmp:
        for i, out in enumerate(pipe.outputs):
            if out.where in refused or out.name not in volumes:
                continue
            if not all(n in volumes for n in out.labels):
                continue
            target = os.path.join(tmp, f"{i}-{os.path.basename(out.path)}")
            try:
                write_volume(
                    volumes[out.name],
                    target,
                    out.format,
                    **_writer_options(out, volumes, frames),
                    progress=False,
                )
            except _REFUSALS as exc:
                refused[out.where] = _problem(
                    pipe, out.where, f"the {out.format} writer refused it: {exc}"
                )
    for table in pipe.tables:
        if table.where in refused or table.labels not in volumes:
            continue
        if table.intensity and table.intensity not in volumes:
            continue
        try:
            columns = regionprops_table(
                volumes[table.labels],
                None if table.intensity is None else volumes[table.intensity],
                properties=table.properties,
            )
            physical_columns(columns, _table_frame(table, frames, volumes[table.labels].ndim))
        except _REFUSALS as exc:
            refused[table.where] = _problem(
                pipe, table.where, f"regionprops_table refused it: {exc}"
            )


def _writer_options(out, volumes: dict, frames: dict) -> dict:
    options = {k: v for k, v in out.options.items() if k != "ome"}
    ome = dict(out.options.get("ome", {}))
    if out.format == "ome-zarr":  # the volume's spacing and unit unless the output names them
        ome.update(ome_options(frames.get(out.name), ome))
    if out.labels:
        ome["labels"] = {n: volumes[n] for n in out.labels}
    if ome:
        options["ome"] = ome
    return options


def plan_storage(pipe: Pipeline, reh: Rehearsal) -> dict:
    """Step name -> ``"output"`` or ``"scratch"`` for the steps stored once and read back."""
    cheap = set(pipe.inputs)
    plan = {}
    for step in pipe.steps:
        if reh.kinds.get(step.name) == "value":
            continue
        users = pipe.consumers(step.name)
        feeds_eager = any(u.startswith("step:") and reh.eager.get(u[5:], True) for u in users)
        is_cheap = step.op.elementwise and all(r in cheap for r in step.refs)
        if is_cheap:
            cheap.add(step.name)
        elif len(users) >= 2 or feeds_eager:
            zarr_out = any(o.name == step.name and o.format == "zarr" for o in pipe.outputs)
            plan[step.name] = "output" if zarr_out else "scratch"
            cheap.add(step.name)
    return plan


def _leftovers(pipe: Pipeline, stem: str) -> list[str]:
    folders = {
        os.path.dirname(p) for p in [o.path for o in pipe.outputs] + [t.path for t in pipe.tables]
    }
    found = []
    for folder in folders:
        if os.path.isdir(folder):
            found += [
                os.path.join(folder, n)
                for n in os.listdir(folder)
                if n.startswith(f"{stem}{PARTIAL_TAG}")
            ]
    return found


def pipeline_hash(pipe: Pipeline) -> str:
    """What a run computes: the file's text, its folder and each input's identity.

    Inputs are named by their dask token, which includes the file's path and mtime
    (or a zarr store's metadata stamp), so editing the file or touching an input
    gives a new hash; ``--overwrite`` and scheduler options do not enter it.
    """
    with open(pipe.file, "rb") as fh:
        text = fh.read()
    inputs = sorted((name, inp.array.name) for name, inp in pipe.inputs.items())
    return tokenize(text, os.path.abspath(pipe.base), inputs)[:16]


def _resumable(pipe: Pipeline, stem: str, pipeline: str, log) -> str | None:
    """The token of the interrupted run of this pipeline to resume, or None."""
    leftovers = _leftovers(pipe, stem)
    other = None
    for folder in leftovers:
        if run_record(folder) == pipeline:
            log(f"resuming the interrupted run in {folder}")
            token = folder.rsplit(PARTIAL_TAG, 1)[1]
            for old in leftovers:
                if not old.endswith(PARTIAL_TAG + token):
                    log(f"note: ignoring {old}, left by another interrupted run (delete it)")
            return token
        if other is None and run_record(folder) is not None:
            other = (folder, run_record(folder))
    if other is not None:
        raise UsageError(
            f"cannot resume: {other[0]} holds an interrupted run of pipeline {other[1]}, but "
            f"{os.path.basename(pipe.file)} is now pipeline {pipeline} (the file, its folder or "
            "an input changed). Delete that folder, or run without --resume to start over."
        )
    for old in leftovers:
        log(f"note: ignoring {old}, left by an interrupted run (delete it)")
    return None


@dataclass
class _Run:
    """What the steps of one run share."""

    pipe: Pipeline
    reh: Rehearsal
    plan: dict
    staging: Staging
    progress: bool
    log: Callable[[str], None]
    resume: bool
    volumes: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    written: set = field(default_factory=set)
    frames: dict = field(default_factory=dict)  # name -> physical Frame or None

    def key(self, name: str) -> str:
        """How the zarr writers name this run's computation of ``name`` (for resume)."""
        return f"bigimg-run-{self.staging.pipeline}-{name}"

    def done(self, path: str) -> bool:
        """True if a resumed run finds ``path`` (in its staging folder) complete."""
        return self.resume and os.path.exists(path)


def execute(
    pipe: Pipeline,
    reh: Rehearsal,
    plan: dict,
    *,
    overwrite: bool,
    progress: bool,
    log: Callable[[str], None] = print,
    resume: bool = False,
) -> dict:
    """Run the pipeline; return a summary (values, outputs, seconds, peak memory).

    With ``resume`` the staging folders of an interrupted run of the same pipeline are
    reused (what they hold complete is kept, partial zarr stores are continued) and
    kept if this run fails too.
    """
    stem = os.path.splitext(os.path.basename(pipe.file))[0]
    pipeline = pipeline_hash(pipe)
    token = None
    if resume:
        token = _resumable(pipe, stem, pipeline, log)
    else:
        for old in _leftovers(pipe, stem):
            hint = (
                "--resume continues it, or delete it"
                if run_record(old) == pipeline
                else "delete it"
            )
            log(f"note: ignoring {old}, left by an interrupted run ({hint})")
    staging = Staging(stem, pipeline, token, root=pipe.base)
    run = _Run(pipe, reh, plan, staging, progress, log, resume)
    run.volumes.update({name: inp.array for name, inp in pipe.inputs.items()})
    run.frames.update({name: inp.frame for name, inp in pipe.inputs.items()})
    for name, inp in pipe.inputs.items():
        log(f"  spacing {name}: {describe_frame(inp.frame)}")
    with ResourceMonitor() as mon:
        try:
            # every output folder is made (so checked writable) before anything computes
            staging.prepare([o.path for o in pipe.outputs] + [t.path for t in pipe.tables])
            with _relay_io_log(log if resume else None):
                for step in pipe.steps:
                    _run_step(run, step)
                for out in pipe.outputs:
                    if out.path not in run.written:
                        _write_output(run, out)
            for table in pipe.tables:
                _run_table(table, run, progress, log)
            done = run.staging.commit(overwrite)
        except BaseException:
            if not resume:
                run.staging.discard()
            raise
    log(
        f"done in {mon.seconds:.1f} s, peak memory {format_bytes(mon.peak_rss)}"
        + "".join(f"\n  {p}" for p in done)
    )
    values = run.values
    return {"values": values, "outputs": done, "seconds": mon.seconds, "peak_rss": mon.peak_rss}


def describe_writes(pipe: Pipeline, plan: dict) -> list[str]:
    """Lines naming every path a run writes: outputs, tables, staging and scratch folders."""
    stem = os.path.splitext(os.path.basename(pipe.file))[0]
    lines = [f"  output {o.name} -> {o.path} ({o.format})" for o in pipe.outputs]
    lines += [f"  table  {t.labels} -> {t.path} ({t.format})" for t in pipe.tables]
    finals = [o.path for o in pipe.outputs] + [t.path for t in pipe.tables]
    folders = sorted({os.path.dirname(p) for p in finals} or {pipe.base})
    scratch = any(how == "scratch" for how in plan.values())
    for k, folder in enumerate(folders):
        note = ", with the temporary stores" if scratch and k == 0 else ""
        lines.append(
            f"  staging {os.path.join(folder, stem + PARTIAL_TAG)}<token>/ (until the run "
            f"succeeds{note})"
        )
    lines.append(f"  all inside the run folder {os.path.realpath(pipe.base)}")
    return lines


def _write_output(run: _Run, out) -> None:
    t0 = time.perf_counter()
    path = run.staging.path_for(out.path)
    if run.done(path):
        run.log(f"  write  {out.name} -> {out.path}  already written by the interrupted run")
        return
    write_volume(
        run.volumes[out.name],
        path,
        out.format,
        **_writer_options(out, run.volumes, run.frames),
        progress=run.progress,
        resume=run.key(out.path),
    )
    run.log(f"  write  {out.name} -> {out.path}  {time.perf_counter() - t0:.1f} s")


@contextlib.contextmanager
def _relay_io_log(log):
    """Show the zarr writers' block counts ("wrote 3 of 8 blocks ...") in the run's log."""
    if log is None:
        yield
        return

    class Relay(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log(f"         {record.getMessage().rsplit(': ', 1)[-1]}")

    logger, handler = logging.getLogger("bigimg.io"), Relay(logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _stored_path(run: _Run, step: Step, how: str) -> tuple[str, str, object]:
    """Where a stored step goes: (path, what the log shows, its zarr output or None)."""
    if how == "output":
        out = next(o for o in run.pipe.outputs if o.name == step.name and o.format == "zarr")
        return run.staging.path_for(out.path, register=False), out.path, out
    path = run.staging.scratch(f"{step.name}.zarr", run.pipe.base)
    return path, "a temporary store (it feeds several steps)", None


def _run_step(run: _Run, step: Step) -> None:
    t0 = time.perf_counter()
    how = run.plan.get(step.name) if run.reh.kinds.get(step.name) != "value" else None
    stored = _stored_path(run, step, how) if how is not None else None
    if stored is not None and run.done(stored[0]):
        run.volumes[step.name] = open_zarr(stored[0])
        run.frames[step.name] = _frame_of(
            step, run.frames, run.volumes.get(step.input), run.volumes[step.name]
        )
        if stored[2] is not None:
            run.staging.path_for(stored[2].path)
            run.written.add(stored[2].path)
        run.log(f"  step   {step.name} = {step.op.name}: already stored by the interrupted run")
        return
    arg, kwargs = _prepare(step, run.volumes, run.values)
    with progress_bar(run.progress and run.reh.eager.get(step.name, True), step.name):
        result = step.op.func(arg, **kwargs)
    vol, value, extras = _split(step, result, getattr(arg, "shape", ()))
    note = ", ".join(f"{k} = {_short(v)}" for k, v in extras.items())
    if vol is None:
        run.values[step.name] = value
        note = f"= {_short(value)}"
    else:
        run.volumes[step.name] = vol
        run.frames[step.name] = _frame_of(step, run.frames, arg, vol)
        note = f"{shape_text(vol.shape)} {vol.dtype}" + (f", {note}" if note else "")
        if run.frames.get(step.input) is not None and run.frames[step.name] is None:
            note += " (a new grid: its spacing is not known)"
    seconds = time.perf_counter() - t0
    when = f"{seconds:.1f} s" if run.reh.eager.get(step.name, True) else "lazy"
    run.log(f"  step   {step.name} = {step.op.name}: {note}  {when}")
    if vol is None or stored is None:
        return
    t0 = time.perf_counter()
    path, shown, out = stored
    key = run.key(out.path if out is not None else step.name)
    if out is not None:
        run.staging.path_for(out.path)
        options = _writer_options(out, run.volumes, run.frames)
        write_volume(vol, path, "zarr", **options, progress=run.progress, resume=key)
        run.written.add(out.path)
    else:
        save_zarr(vol, path, progress=run.progress, resume=key)
    run.volumes[step.name] = open_zarr(path)
    run.log(f"  store  {step.name} -> {shown}  {time.perf_counter() - t0:.1f} s")


def _table_frame(table, frames: dict, ndim: int) -> Frame | None:
    """The labels' frame, with the table's own ``spacing``/``unit`` winning."""
    frame = frames.get(table.labels)
    if table.spacing is None:
        return frame if table.unit is None or frame is None else frame._replace(unit=table.unit)
    unit = table.unit if table.unit is not None else frame and frame.unit
    return Frame(check_spacing(table.spacing, ndim), unit, "the table's spacing")


def _run_table(table, run: _Run, progress, log):
    from bigimg.measure import regionprops_table

    t0 = time.perf_counter()
    labels = run.volumes[table.labels]
    with progress_bar(progress, "table"):
        columns = regionprops_table(
            labels,
            None if table.intensity is None else run.volumes[table.intensity],
            properties=table.properties,
        )
    columns = physical_columns(columns, _table_frame(table, run.frames, labels.ndim))
    write_table(columns, run.staging.path_for(table.path), table.format)
    rows = len(next(iter(columns.values()))) if columns else 0
    log(f"  table  {table.labels} -> {table.path} ({rows} rows)  {time.perf_counter() - t0:.1f} s")


def _short(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 80 else text[:77] + "..."
