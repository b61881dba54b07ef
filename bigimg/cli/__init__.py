"""The ``bigimg`` command line: process volumes larger than memory without writing Python.

::

    bigimg info PATH                  format, shape, dtype, chunks, size, spacing (--json)
    bigimg convert IN OUT             raw / TIFF / zarr -> zarr, OME-Zarr, TIFF or raw
    bigimg view PATH --out view.png   orthogonal slices over projections
    bigimg run PIPELINE.toml          a declarative pipeline: inputs, steps, outputs, a table
    bigimg ops [PATTERN]              the ops a pipeline step may name
    bigimg demo                       the built-in example on a synthetic CT volume

Every command that computes takes ``--scheduler threads|synchronous|processes|ADDRESS``,
``--workers N`` and ``--memory-limit 2GiB`` (per worker process). Outputs are written
under partial names and moved into place only when complete. Bad input gives a
one-line message on stderr and exit code 2.

>>> from bigimg.cli import main
>>> main(["info", "no-such-volume.zarr"])  # prints the reason on stderr
2
"""

from bigimg.cli._main import main

__all__ = ["main"]
