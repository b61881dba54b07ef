"""Run a notebook top to bottom in a fresh kernel of the current interpreter.

Used by ``tests/test_notebooks.py`` and ``benchmarks/run_notebooks.py``; needs ``nbformat``,
``nbclient`` and ``ipykernel``.
The notebook file is only read: outputs stay in memory, and the kernel runs in a
scratch folder, so executing never writes into the repository.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Mapping

__all__ = ["run_notebook"]


def _kernel_spec_manager(folder: pathlib.Path):
    """A kernel spec ``bigimg-python`` that starts ``sys.executable``, whatever is registered."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec_dir = folder / "kernels" / "bigimg-python"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "bigimg (current interpreter)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(folder / "kernels")])


def run_notebook(path, *, env: Mapping[str, str] | None = None, timeout: int = 120):
    """Execute the notebook at ``path`` and return the executed notebook (in memory).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.ipynb`` file; it is read, never written.
    env : mapping, optional
        Extra environment variables of the kernel (added to ``os.environ``).
    timeout : int, optional
        Seconds allowed per cell.

    Returns
    -------
    nbformat.NotebookNode
        The notebook with its outputs.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        If a cell raises; the message names the cell and shows the traceback.
    """
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(os.fspath(path), as_version=4)
    with tempfile.TemporaryDirectory(prefix="bigimg-nbrun-") as scratch:
        scratch = pathlib.Path(scratch)
        km = KernelManager(
            kernel_name="bigimg-python", kernel_spec_manager=_kernel_spec_manager(scratch)
        )
        work = scratch / "cwd"
        work.mkdir()
        client = NotebookClient(
            nb, km=km, timeout=timeout, resources={"metadata": {"path": str(work)}}
        )
        try:
            client.execute(env={**os.environ, **(env or {})})
        finally:  # nbclient leaves a kernel it did not start running
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    return nb
