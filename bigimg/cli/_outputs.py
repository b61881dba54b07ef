"""Writing volumes and tables, and the staging area that makes a run's outputs all-or-nothing.

Every volume goes through the io writers (partial name, renamed when complete). A
pipeline run adds one more level: everything it writes lands in a *staging folder*
``<output folder>/<run>.bigimg-partial-<token>/`` next to each output, and the outputs
are moved to their final paths only after the last step succeeded. An interrupted run
therefore leaves nothing at any output path; the staging folder is deleted on any
error or Ctrl-C, and if the process is killed outright its name (with
``.bigimg-partial-``) says it is incomplete, readers refuse it and a new run ignores it.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import os
import shutil
import uuid

import numpy as np

from bigimg._atomic import PARTIAL_TAG
from bigimg.cli._common import UsageError
from bigimg.cli._sources import RAW_SUFFIXES, TIFF_SUFFIXES
from bigimg.io import save_ome_zarr, save_raw, save_tiff, save_zarr

__all__ = [
    "OUTPUT_FORMATS",
    "RUN_RECORD",
    "TABLE_FORMATS",
    "Staging",
    "run_record",
    "output_format",
    "table_format",
    "write_table",
    "write_volume",
]

OUTPUT_FORMATS = ("zarr", "ome-zarr", "tiff", "raw")
TABLE_FORMATS = ("csv", "tsv", "parquet")


def output_format(path: str, given: str | None = None) -> str:
    """The writer for ``path``: ``given``, else from the suffix (``.ome.zarr`` is OME-Zarr)."""
    formats = OUTPUT_FORMATS
    if given is not None:
        if given not in formats:
            raise UsageError(f"output format must be one of {', '.join(formats)}; got {given!r}.")
        return given
    lower = path.lower().rstrip("/")
    if lower.endswith(".ome.zarr"):
        return "ome-zarr"
    for fmt, suffixes in (("zarr", (".zarr",)), ("tiff", TIFF_SUFFIXES), ("raw", RAW_SUFFIXES)):
        if lower.endswith(suffixes):
            return fmt
    raise UsageError(
        f"cannot tell which format to write {path} in from its suffix (.zarr, .tif, .raw); "
        f"name the format ({', '.join(formats)})."
    )


def table_format(path: str) -> str:
    """``"csv"``, ``"tsv"`` or ``"parquet"`` from the suffix; Parquet needs pandas and pyarrow."""
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in TABLE_FORMATS:
        raise UsageError(f"table path must end in .csv, .tsv or .parquet; got {path!r}.")
    if fmt == "parquet":
        missing = [m for m in ("pandas", "pyarrow") if importlib.util.find_spec(m) is None]
        if missing:
            raise UsageError(
                f"writing {path} as Parquet needs {' and '.join(missing)} "
                f"(pip install {' '.join(missing)}); or write a .csv table."
            )
    return fmt


def write_volume(
    arr,
    path: str,
    fmt: str,
    *,
    chunks=None,
    zarr_format: int = 3,
    compression: str | None = None,
    ome: dict | None = None,
    overwrite: bool = False,
    progress=None,
    resume: bool | str = False,
) -> str:
    """Write ``arr`` with the io writer of ``fmt`` (crash-safe: partial name, then rename).

    ``ome`` holds the extra keywords of the OME-Zarr writer (scale, units, levels,
    factors, image_reduce, labels). Options that do not apply to ``fmt`` are refused.
    ``resume`` goes to the zarr writers (TIFF and raw files are written whole).
    """
    if fmt != "zarr" and zarr_format != 3:
        raise UsageError(f"zarr_format applies to zarr outputs only; {path} is {fmt}.")
    if fmt != "tiff" and compression is not None:
        raise UsageError(f"compression applies to TIFF outputs only; {path} is {fmt}.")
    if fmt != "ome-zarr" and ome:
        raise UsageError(
            f"{', '.join(sorted(ome))} apply to OME-Zarr outputs only; {path} is {fmt}."
        )
    if fmt in ("tiff", "raw") and chunks is not None:
        raise UsageError(f"chunks applies to zarr outputs; {fmt} files have no chunks ({path}).")
    if fmt == "zarr":
        return save_zarr(
            arr,
            path,
            chunks=chunks,
            zarr_format=zarr_format,
            overwrite=overwrite,
            progress=progress,
            resume=resume,
        )
    if fmt == "ome-zarr":
        return save_ome_zarr(
            arr,
            path,
            chunks=chunks,
            overwrite=overwrite,
            progress=progress,
            resume=resume,
            **(ome or {}),
        )
    if fmt == "tiff":
        return save_tiff(arr, path, compression=compression, overwrite=overwrite, progress=progress)
    return save_raw(arr, path, overwrite=overwrite, progress=progress)


def write_table(table: dict, path: str, fmt: str) -> str:
    """Write a ``regionprops_table`` dict (one column per key) as CSV, TSV or Parquet."""
    columns = {k: np.asarray(v) for k, v in table.items()}
    if fmt == "parquet":
        import pandas as pd

        pd.DataFrame(columns).to_parquet(path, index=False)
        return path
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t" if fmt == "tsv" else ",")
        writer.writerow(list(columns))
        writer.writerows(zip(*(v.tolist() for v in columns.values())))
    return path


#: The file in each staging folder that names the pipeline filling it.
RUN_RECORD = "bigimg-run.json"


def run_record(folder: str) -> str | None:
    """The pipeline hash recorded in a staging folder (None if it has no record)."""
    try:
        with open(os.path.join(folder, RUN_RECORD)) as fh:
            return str(json.load(fh)["pipeline"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Staging:
    """Folders next to each output that receive a run's files until :meth:`commit`.

    Parameters
    ----------
    tag : str
        Start of the staging folders' names (the pipeline's name).
    pipeline : str, optional
        The pipeline's hash, recorded in every staging folder (for ``--resume``).
    token : str, optional
        Reuse the staging folders of an interrupted run with this token.
    root : str, optional
        The run folder: every staging folder and output must resolve (symbolic links
        followed) to a place inside it, checked again right before each is created or
        moved into place.
    """

    def __init__(
        self, tag: str, pipeline: str = "", token: str | None = None, root: str | None = None
    ) -> None:
        self.tag = tag
        self.pipeline = pipeline
        self.token = token or uuid.uuid4().hex[:10]
        self.root = None if root is None else os.path.realpath(root)
        self.folders: dict[str, str] = {}
        self.staged: list[tuple[str, str]] = []
        self.keep = False

    def _confine(self, path: str) -> None:
        if self.root is None:
            return
        real = os.path.realpath(path)
        if os.path.commonpath([real, self.root]) != self.root:
            raise UsageError(
                f"{path} now leads to {real}, outside the run folder {self.root} (a symbolic "
                "link changed during the run); nothing was written there."
            )

    def folder(self, parent: str) -> str:
        """The staging folder in ``parent`` (created, with its parents, on first use)."""
        parent = os.path.abspath(parent)
        if parent not in self.folders:
            self._confine(parent)
            try:
                os.makedirs(parent, exist_ok=True)
                folder = os.path.join(parent, f"{self.tag}{PARTIAL_TAG}{self.token}")
                if not os.path.isdir(folder):  # a resumed run reuses its folder
                    os.mkdir(folder)
                    with open(os.path.join(folder, RUN_RECORD), "w") as fh:
                        json.dump({"pipeline": self.pipeline}, fh)
            except OSError as exc:
                raise UsageError(
                    f"cannot write into {parent} ({type(exc).__name__}: "
                    f"{exc.strerror or exc}); choose a writable output folder."
                ) from None
            self.folders[parent] = folder
        return self.folders[parent]

    def prepare(self, finals: list[str]) -> None:
        """Create the staging folders of every output now, before anything is computed."""
        for final in finals:
            self.folder(os.path.dirname(os.path.abspath(final)))

    def path_for(self, final: str, *, register: bool = True) -> str:
        """Where to write the output whose final path is ``final`` (same name, staged).

        ``register=False`` only says where (the output is not moved at :meth:`commit`).
        """
        final = os.path.abspath(final)
        staged = os.path.join(self.folder(os.path.dirname(final)), os.path.basename(final))
        if register and (staged, final) not in self.staged:
            self.staged.append((staged, final))
        return staged

    def scratch(self, name: str, parent: str) -> str:
        """A path for an intermediate result, deleted with the staging folders."""
        folder = next(iter(self.folders.values()), None) or self.folder(parent)
        os.makedirs(os.path.join(folder, "intermediate"), exist_ok=True)
        return os.path.join(folder, "intermediate", name)

    def commit(self, overwrite: bool) -> list[str]:
        """Move every staged output onto its final path, all of them or none.

        Outputs it replaces (``overwrite``) are first moved into the staging folder; if
        any move fails (an output appeared during the run, a folder was changed), the
        moves already made are undone, the old outputs put back, and the new outputs
        kept in the staging folders, and the error says so. Then the staging folders
        are deleted.
        """
        appeared = [f for _, f in self.staged if os.path.lexists(f) and not overwrite]
        if appeared:
            self.keep = True
            raise UsageError(
                f"{', '.join(appeared)} appeared during the run; nothing was moved into place. "
                f"The complete outputs are kept in {', '.join(sorted(set(self.folders.values())))}:"
                " move them yourself, or run again with --overwrite."
            )
        undo: list[tuple[str, str]] = []  # (from, to) renames that put things back
        try:
            for k, (staged, final) in enumerate(self.staged):
                self._confine(final)
                if os.path.lexists(final):
                    if not overwrite:
                        raise FileExistsError(f"{final} appeared during the run")
                    old = os.path.join(os.path.dirname(staged), f"replaced-{k}")
                    os.rename(final, old)
                    undo.append((old, final))
                os.rename(staged, final)
                undo.append((final, staged))
        except (OSError, UsageError) as exc:
            failed = self._undo(undo)
            self.keep = True
            moved = f"; could not undo: {', '.join(failed)}" if failed else ""
            raise UsageError(
                f"committing the outputs failed ({exc}); none was moved into place{moved}. "
                f"The complete outputs are kept in {', '.join(sorted(set(self.folders.values())))}."
            ) from None
        done = [final for _, final in self.staged]
        self.discard()
        return done

    @staticmethod
    def _undo(undo: list[tuple[str, str]]) -> list[str]:
        failed = []
        for source, target in reversed(undo):
            try:
                os.rename(source, target)
            except OSError:
                failed.append(f"{source} -> {target}")
        return failed

    def discard(self) -> None:
        """Delete the staging folders and whatever they hold (unless an output must be kept)."""
        if self.keep:
            return
        for folder in self.folders.values():
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(folder)
        self.folders.clear()
