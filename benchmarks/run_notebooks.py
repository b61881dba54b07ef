"""Run every tutorial notebook at its default size; optionally commit the executed copies.

Run from the repository root (not in CI: about 10 minutes on 2 cores)::

    python benchmarks/run_notebooks.py                 # run all, report time and memory
    python benchmarks/run_notebooks.py 04              # only notebooks whose name starts so
    python benchmarks/run_notebooks.py --write         # and write the executed notebooks
    python benchmarks/run_notebooks.py --size 1024     # BIGIMG_NB_SIZE for every notebook

The test suite runs the notebooks only at ``BIGIMG_NB_SIZE=48``; this script is the
check that each one finishes at the size it is written for (each cell may take up to
``--timeout`` seconds). For each notebook it prints the wall time, the peak resident
memory of the kernel and everything it started (the cluster's workers included,
sampled with psutil) and how many figures it showed.

With ``--write`` the executed notebooks replace ``notebooks/NN_*.ipynb``, so that they
read as the tutorial on GitHub: figures are drawn at ``--dpi`` (matplotlib's
``figure.dpi``, through a ``MATPLOTLIBRC`` file) and stored with a 256-colour palette
to keep the files small, and the
kernel's scratch paths are replaced by ``<tmp>``. ``tests/test_notebooks.py``
re-executes them at the small size and compares which cells print and which show a
figure.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import pathlib
import re
import sys
import tempfile
import time

import nbformat

from bigimg._monitor import ResourceMonitor, format_bytes
from bigimg.testing._notebooks import run_notebook

FOLDER = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
_KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}

#: Absolute scratch paths printed by the notebooks (``tempfile.mkdtemp`` and friends).
_TMP = re.compile(re.escape(tempfile.gettempdir()) + r"/[^\s'\"),\]]+")


def _images(nb) -> int:
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    )


def _shrink_png(data: str) -> str:
    """A base64 PNG re-encoded with a palette of 256 colours, if that is smaller.

    The synthetic CT's noise makes RGBA PNGs of its planes large; a palette keeps
    about half the bytes and looks the same at this size.
    """
    from PIL import Image

    raw = base64.b64decode(data)
    image = Image.open(io.BytesIO(raw))
    buf = io.BytesIO()
    image.convert("RGB").quantize(256).save(buf, format="PNG", optimize=True)
    small = buf.getvalue()
    return base64.b64encode(small).decode() + "\n" if len(small) < len(raw) else data


def _scrub(nb) -> None:
    """Scratch paths in outputs become ``<tmp>/...``; smaller PNGs; no stderr, timings,
    widget state or test kernel."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = _TMP.sub(
                    lambda m: "<tmp>/" + m.group(0).rsplit("/", 1)[-1], out["text"]
                )
            for key in ("text/plain", "text/html"):
                if key in out.get("data", {}):
                    value = out["data"][key]
                    out["data"][key] = _TMP.sub(
                        lambda m: "<tmp>/" + m.group(0).rsplit("/", 1)[-1], value
                    )
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps: a diff on every run
        # warnings and log lines (a nanny killing a slow worker at close) depend on the
        # machine's load, not on the tutorial
        cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("name") != "stderr"]
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                out["data"]["image/png"] = _shrink_png(out["data"]["image/png"])
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = _KERNELSPEC  # not the test kernel's


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("only", nargs="*", help="run notebooks whose names start so (e.g. 04)")
    parser.add_argument("--write", action="store_true", help="write the executed notebooks")
    parser.add_argument("--size", type=int, help="BIGIMG_NB_SIZE (default: each notebook's)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--dpi", type=int, default=56, help="figure.dpi of the figures")
    args = parser.parse_args(argv)

    paths = sorted(FOLDER.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in args.only)]
    if not paths:
        parser.error(f"no notebook in {FOLDER} starts with {args.only}")

    status = 0
    with tempfile.TemporaryDirectory(prefix="bigimg-nbbench-") as tmp:
        rc = pathlib.Path(tmp) / "matplotlibrc"
        rc.write_text(f"figure.dpi: {args.dpi}\nsavefig.dpi: figure\n")
        env = {
            "MATPLOTLIBRC": str(rc),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # Jupyter's own
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
        }
        if args.size:
            env["BIGIMG_NB_SIZE"] = str(args.size)
        print(f"{'notebook':<40} {'seconds':>8} {'peak RSS':>10} {'figures':>8}", flush=True)
        for path in paths:
            t0 = time.perf_counter()
            try:
                with ResourceMonitor(interval=0.2) as mon:
                    nb = run_notebook(path, env=env, timeout=args.timeout)
            except Exception as err:  # report and go on with the next notebook
                status = 1
                print(f"{path.name:<40} FAILED after {time.perf_counter() - t0:.0f} s: {err}")
                continue
            print(
                f"{path.name:<40} {mon.seconds:8.1f} {format_bytes(mon.peak_rss):>10}"
                f" {_images(nb):8d}",
                flush=True,
            )
            if args.write:
                _scrub(nb)
                nbformat.write(nb, path)
                print(f"  wrote {path.relative_to(FOLDER.parent)}: {os.path.getsize(path):,} bytes")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
