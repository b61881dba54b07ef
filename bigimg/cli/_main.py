"""The ``bigimg`` command: argument parsing, dispatch, and how errors reach the user.

Exit codes: 0 success; 2 bad input (a one-line message on stderr, no traceback:
``--traceback`` shows it); 1 a failure while computing; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys

from bigimg._errors import IncompleteOutputError
from bigimg.cli._common import (
    UsageError,
    parse_chunks,
    parse_floats,
    parse_ints,
)

__all__ = ["main"]

_USER_ERRORS = (
    UsageError,
    ValueError,
    TypeError,
    NotImplementedError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    IncompleteOutputError,
    ImportError,
)

EPILOG = """examples:
  bigimg demo --size 256                        synthetic CT -> filtered, labelled, measured
  bigimg info demo-output/ct.raw --shape 256,256,256 --dtype uint16
  bigimg convert ct.raw ct.zarr --shape 256,256,256 --dtype uint16 --chunks 128
  bigimg view ct.zarr --out view.png
  bigimg run examples/pipeline.toml --dir demo-output
  bigimg run examples/pipeline.toml --dir demo-output --resume   after an interruption
"""


def _add_source(p: argparse.ArgumentParser, what: str = "input") -> None:
    g = p.add_argument_group(f"{what} (raw files need --shape and --dtype)")
    g.add_argument(
        "--format",
        choices=("raw", "tiff", "zarr", "nifti", "dicom", "hdf5", "mrc", "nrrd"),
        help="input format (default: from the path)",
    )
    g.add_argument("--shape", help="raw: shape, e.g. 512,512,512 (plane, row, column)")
    g.add_argument("--dtype", help="raw: voxel type, e.g. uint16, >u2, float32")
    g.add_argument("--offset", type=int, default=0, help="raw: header bytes to skip")
    g.add_argument(
        "--order", choices=("C", "F"), default="C", help="raw: C (last axis fastest, default) or F"
    )
    g.add_argument(
        "--allow-trailing",
        action="store_true",
        help="raw: accept bytes after the data (a footer); by default they are an error",
    )
    g.add_argument(
        "--component", help="zarr: array or OME-Zarr image inside the store; HDF5: dataset path"
    )
    g.add_argument(
        "--series", type=int, default=0, help="TIFF: image series; DICOM: series 1, 2, ..."
    )
    g.add_argument("--level", type=int, default=0, help="TIFF: pyramid level")


def _add_compute(p: argparse.ArgumentParser, *, demo: bool = False) -> None:
    g = p.add_argument_group("computation")
    g.add_argument(
        "--scheduler",
        default="threads",
        help="threads (default), synchronous, processes, or a dask.distributed "
        "scheduler address such as tcp://127.0.0.1:8786",
    )
    g.add_argument("--workers", type=int, help="threads or worker processes (default: cores)")
    g.add_argument("--memory-limit", help="per worker process, e.g. 2GiB (--scheduler processes)")
    if demo:
        g.add_argument(
            "--no-progress",
            dest="progress",
            action="store_false",
            default=None,
            help="hide progress bars",
        )
    else:
        g.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="progress bars (default: when stderr is a terminal)",
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bigimg",
        description="scipy.ndimage for volumes larger than memory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="describe a raw, TIFF, zarr or OME-Zarr volume")
    p.add_argument("path")
    _add_source(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser(
        "convert",
        help="copy a volume to zarr, OME-Zarr, TIFF or raw",
        description="Copy a volume to zarr, OME-Zarr, TIFF or raw, block by block. An "
        "OME-Zarr input's label images (its labels/ group) are carried into an OME-Zarr "
        "output under the same names.",
    )
    p.add_argument("input")
    p.add_argument(
        "output",
        help="output path; the format follows the suffix "
        "(.zarr, .ome.zarr, .tif, .raw) unless --to is given",
    )
    _add_source(p)
    g = p.add_argument_group("output")
    g.add_argument("--to", dest="out_format", choices=("zarr", "ome-zarr", "tiff", "raw"))
    g.add_argument("--chunks", help="stored chunk shape, e.g. 128 or 64,256,256 (rechunks)")
    g.add_argument(
        "--zarr-format",
        type=int,
        choices=(2, 3),
        help="zarr v2 or v3 (default 3); for OME-Zarr, 3 means --ome-version 0.5, 2 means 0.4",
    )
    g.add_argument("--compression", help="TIFF compression, e.g. zlib")
    g.add_argument(
        "--ome",
        action="store_true",
        help="write OME-Zarr (like --to ome-zarr); an OME-Zarr input's labels are carried",
    )
    g.add_argument(
        "--ome-version",
        choices=("0.4", "0.5"),
        help="OME-Zarr 0.5 (default, zarr v3) or 0.4 (zarr v2, for older readers)",
    )
    g.add_argument(
        "--scale",
        help="OME-Zarr voxel size z,y,x, or one per axis, e.g. t,z,y,x (default: from the input)",
    )
    g.add_argument("--unit", help="OME-Zarr space unit, e.g. micrometer")
    g.add_argument(
        "--axes",
        help="OME-Zarr axes: an optional t (time), an optional c (channel), then zyx or yx, "
        "e.g. tzyx, czyx (default: an OME-Zarr input's own, else 4-D tzyx, 5-D tczyx)",
    )
    g.add_argument("--time-unit", help="OME-Zarr unit of the time axis, e.g. second")
    g.add_argument("--levels", type=int, help="OME-Zarr pyramid levels")
    g.add_argument("--factors", help="OME-Zarr downsampling per level, e.g. 2 or 1,2,2")
    g.add_argument(
        "--reduce",
        choices=("mean", "max", "min", "nearest"),
        help="OME-Zarr: how a window becomes one voxel (default mean)",
    )
    g.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_compute(p)

    p = sub.add_parser("view", help="orthogonal slices and projections as a PNG")
    p.add_argument("path")
    p.add_argument("--out", required=True, help="the PNG to write")
    _add_source(p)
    g = p.add_argument_group("figure")
    g.add_argument("--labels", help="a label volume to draw over the slices")
    g.add_argument("--point", help="voxel z,y,x the slices go through (default: centre)")
    g.add_argument("--projection", choices=("max", "mean", "min"), default="max")
    g.add_argument(
        "--percentiles", help="contrast percentiles (default 1,99 unless --window is given)"
    )
    g.add_argument(
        "--window",
        help="CT window for the display range: brain, lung, mediastinum, soft-tissue, "
        "abdomen, liver, bone, or LEVEL,WIDTH in HU (--window=-600,1500 for a negative level)",
    )
    g.add_argument(
        "--convention",
        choices=("radiological", "neurological"),
        help="patient's left on screen right (radiological) or left (neurological); needs a "
        "header with a patient frame (NIfTI, DICOM, NRRD)",
    )
    g.add_argument(
        "--index", type=int, help="4-D input: the volume of the leading axis to show (default 0)"
    )
    g.add_argument("--spacing", help="voxel size z,y,x (default: from the file)")
    g.add_argument("--unit", help="unit of the spacing, e.g. mm (default: from the file)")
    g.add_argument("--dpi", type=float, default=100.0)
    g.add_argument("--title")
    g.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    _add_compute(p)

    p = sub.add_parser("run", help="run a pipeline file (TOML or YAML)")
    p.add_argument("pipeline")
    p.add_argument(
        "--dir",
        help="the run folder: paths in the file are relative to it, and every output, table "
        "and temporary store must stay inside it (default: the pipeline file's folder)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run of the same pipeline: keep what it wrote, compute "
        "the rest (and keep the partial outputs if this run fails too)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file, list every path the run would write, and stop",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    _add_compute(p)

    p = sub.add_parser("ops", help="list the ops a pipeline step may use")
    p.add_argument("pattern", nargs="?", default="", help="show only ops containing this")

    p = sub.add_parser("demo", help="run the example pipeline on a synthetic CT volume")
    p.add_argument(
        "--size", type=int, default=512, help="edge length of the cubic uint16 volume (default 512)"
    )
    p.add_argument("--chunks", type=int, default=128, help="chunk edge (default 128)")
    p.add_argument("--out", default="demo-output", help="output folder")
    _add_compute(p, demo=True)
    return parser


def _source_options(args) -> dict:
    return {
        "shape": None if args.shape is None else parse_ints(args.shape, "--shape", minimum=1),
        "dtype": args.dtype,
        "offset": args.offset,
        "order": args.order,
        "allow_trailing": args.allow_trailing,
        "component": args.component,
        "series": args.series,
        "level": args.level,
    }


def _format_options(args, path: str) -> dict:
    """Only the options the format of ``path`` takes; refuse the others."""
    from bigimg.cli._sources import detect_format

    opts = _source_options(args)
    fmt = detect_format(path, args.format)
    keep = {
        "raw": ("shape", "dtype", "offset", "order", "allow_trailing"),
        "tiff": ("series", "level"),
        "zarr": ("component",),
        "hdf5": ("component",),
        "dicom": ("series",),
    }.get(fmt, ())
    given = [k for k, v in opts.items() if k not in keep and v not in (None, 0, "C", False)]
    if given:
        flags = " ".join("--" + k.replace("_", "-") for k in given)
        raise UsageError(f"{flags} do not apply to {fmt} input.")
    return {k: v for k, v in opts.items() if k in keep}


def _progress(args) -> bool:
    from bigimg._atomic import resolve_progress

    return resolve_progress(args.progress)


def _cmd_info(args) -> int:
    from bigimg.cli._info import describe, render
    from bigimg.cli._sources import detect_format

    fmt = detect_format(args.path, args.format)
    print(render(describe(args.path, fmt, **_format_options(args, args.path)), as_json=args.json))
    return 0


def _cmd_convert(args) -> int:
    from bigimg.cli._convert import convert
    from bigimg.cli._scheduler import check_scheduler, use_scheduler

    check_scheduler(args.scheduler, args.workers, args.memory_limit)
    out_format = "ome-zarr" if args.ome else args.out_format
    ome = {}
    if args.scale:
        ome["scale"] = parse_floats(args.scale, "--scale")
    if args.unit:
        ome["units"] = args.unit
    if args.axes:
        ome["axes"] = args.axes
    if args.time_unit:
        ome["time_unit"] = args.time_unit
    if args.levels is not None:
        ome["levels"] = args.levels
    if args.factors:
        f = parse_ints(args.factors, "--factors", minimum=1)
        ome["factors"] = f[0] if len(f) == 1 else f
    if args.reduce:
        ome["image_reduce"] = args.reduce
    with use_scheduler(args.scheduler, args.workers, args.memory_limit):
        path = convert(
            args.input,
            args.output,
            in_format=args.format,
            out_format=out_format,
            open_options=_format_options(args, args.input),
            chunks=parse_chunks(args.chunks),
            zarr_format=args.zarr_format,
            ome_version=args.ome_version,
            compression=args.compression,
            ome=ome,
            overwrite=args.overwrite,
            progress=_progress(args),
        )
    print(f"wrote {path}")
    return 0


def _cmd_view(args) -> int:
    from bigimg.cli._convert import view
    from bigimg.cli._scheduler import check_scheduler, use_scheduler

    check_scheduler(args.scheduler, args.workers, args.memory_limit)
    pct = None if args.percentiles is None else parse_floats(args.percentiles, "--percentiles")
    point = None if args.point is None else parse_ints(args.point, "--point")
    spacing = None if args.spacing is None else parse_floats(args.spacing, "--spacing")
    if pct is not None and len(pct) != 2:
        raise UsageError(f"--percentiles must be two numbers, e.g. 1,99; got {args.percentiles!r}.")
    window = args.window
    if window is not None and "," in window:  # LEVEL,WIDTH; otherwise a preset name
        try:
            window = tuple(float(v) for v in window.split(","))
        except ValueError:
            window = ()
        if len(window) != 2:
            raise UsageError(
                f"--window must be a preset name or LEVEL,WIDTH such as -600,1500; got "
                f"{args.window!r}."
            )
    with use_scheduler(args.scheduler, args.workers, args.memory_limit):
        path = view(
            args.path,
            args.out,
            in_format=args.format,
            open_options=_format_options(args, args.path),
            labels=args.labels,
            point=point,
            projection=args.projection,
            percentiles=pct,
            window=window,
            spacing=spacing,
            unit=args.unit,
            convention=args.convention,
            index=args.index,
            dpi=args.dpi,
            title=args.title,
            overwrite=args.overwrite,
            progress=_progress(args),
        )
    print(f"wrote {path}")
    return 0


def _cmd_run(args) -> int:
    from bigimg.cli._pipeline import describe_writes, execute, plan_storage, rehearse
    from bigimg.cli._scheduler import check_scheduler, use_scheduler
    from bigimg.cli._spec import load_pipeline

    def log(text: str) -> None:
        if not args.quiet:
            print(text, flush=True)

    check_scheduler(args.scheduler, args.workers, args.memory_limit)
    pipe = load_pipeline(args.pipeline, base=args.dir, overwrite=args.overwrite)
    reh = rehearse(pipe)
    plan = plan_storage(pipe, reh)
    log(
        f"bigimg run {args.pipeline}: {len(pipe.inputs)} input(s), {len(pipe.steps)} step(s), "
        f"{len(pipe.outputs)} output(s), {len(pipe.tables)} table(s): checked"
    )
    for name, inp in pipe.inputs.items():
        a = inp.array
        log(
            f"  input  {name} = {inp.path} ({inp.format}, {' x '.join(map(str, a.shape))} "
            f"{a.dtype}, chunks {' x '.join(map(str, a.chunksize))})"
        )
    if args.dry_run:
        for step in pipe.steps:
            stored = {"output": ", stored as its output", "scratch": ", stored temporarily"}
            log(
                f"  step   {step.name} = {step.op.name}({step.input})"
                f"{stored.get(plan.get(step.name), '')}"
            )
        for line in describe_writes(pipe, plan):
            log(line)
        return 0
    with use_scheduler(args.scheduler, args.workers, args.memory_limit, log=log):
        execute(
            pipe,
            reh,
            plan,
            overwrite=args.overwrite,
            progress=_progress(args),
            log=log,
            resume=args.resume,
        )
    return 0


def _cmd_ops(args) -> int:
    import inspect

    from bigimg.cli._ops import all_ops, resolve_op

    for name in all_ops():
        if args.pattern in name:
            doc = inspect.getdoc(resolve_op(name).func) or ""
            print(f"{name:<40s} {doc.splitlines()[0] if doc else ''}")
    return 0


def _cmd_demo(args) -> int:
    from bigimg._demo import run_demo
    from bigimg.cli._scheduler import use_scheduler

    with use_scheduler(args.scheduler, args.workers, args.memory_limit):
        run_demo(size=args.size, out=args.out, chunks=args.chunks, progress=args.progress)
    return 0


_COMMANDS = {
    "info": _cmd_info,
    "convert": _cmd_convert,
    "view": _cmd_view,
    "run": _cmd_run,
    "ops": _cmd_ops,
    "demo": _cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    """Run the ``bigimg`` command line with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit code instead of exiting, so tests can call it in-process.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or argparse's own usage error (code 2)
        return exc.code if isinstance(exc.code, int) else 0
    if args.version:
        import bigimg

        print(f"bigimg {bigimg.__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _COMMANDS[args.command](args)
    except BrokenPipeError:  # `bigimg info x | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        if getattr(args, "resume", False):
            print(
                f"bigimg {args.command}: interrupted. What was written is kept in the run's "
                "staging folders (*.bigimg-partial-*); run the same command with --resume "
                "to continue.",
                file=sys.stderr,
            )
            return 130
        print(
            f"bigimg {args.command}: interrupted. Outputs are moved into place only when "
            "complete, so nothing half-written was left; run the same command again.",
            file=sys.stderr,
        )
        return 130
    except _USER_ERRORS as exc:
        if args.traceback:
            raise
        problems = getattr(exc, "problems", None) or [exc]
        if len(problems) > 1:  # every problem of a pipeline file, one per line
            lines = "".join(f"\n  {_one_line(p)}" for p in problems)
            print(
                f"bigimg {args.command}: error: {len(problems)} problems:{lines}", file=sys.stderr
            )
            return 2
        print(f"bigimg {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.traceback:
            raise
        print(
            f"bigimg {args.command}: failed: {type(exc).__name__}: {_one_line(exc)} "
            "(--traceback shows where)",
            file=sys.stderr,
        )
        return 1


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
