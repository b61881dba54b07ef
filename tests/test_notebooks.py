"""The tutorial notebooks: committed executed at their default size, re-run here tiny.

``benchmarks/run_notebooks.py --write`` executes them at the size they are written for
and commits the outputs (small figures included), so they read as the tutorial on
GitHub. Here each one runs top to bottom at ``BIGIMG_NB_SIZE=48`` and must give the
same structure: the same code cells print, and every cell that shows a figure in the
committed notebook shows one again (as PNG, in a fresh kernel). Each notebook asserts
its own results (equality with scipy on small crops), so a failing cell fails its
test. Deselect with ``pytest -m "not notebooks"``.
"""

from __future__ import annotations

import pathlib
import runpy

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from bigimg.testing._notebooks import run_notebook  # noqa: E402

pytestmark = pytest.mark.notebooks

FOLDER = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("[0-9][0-9]_*.ipynb"))
#: Jupyter's own matplotlib backend, whatever the environment says: pyplot figures show
#: as in a notebook opened by hand
INLINE = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
ENV = {"BIGIMG_NB_SIZE": "48", **INLINE}
MAX_BYTES = 400_000  # figures are drawn at a low dpi to keep the notebooks small


def test_notebooks_found():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 5 and names[0].startswith("01_"), names


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _prints(cell) -> bool:
    """The cell shows something other than stderr (a warning, a log line)."""
    return any(out.get("name") != "stderr" for out in cell.get("outputs", []))


def _shows_figure(cell) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_executed(path):
    nb = nbformat.read(path, as_version=4)
    cells = _code_cells(nb)
    unrun = [i for i, c in enumerate(cells) if not c.get("execution_count")]
    assert not unrun, (
        f"{path.name}: code cells {unrun} were not executed; "
        "run python benchmarks/run_notebooks.py --write"
    )
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: cells were not run top to bottom once"
    )
    errors = [i for i, c in enumerate(cells) for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: code cells {errors} hold errors"
    assert path.stat().st_size <= MAX_BYTES, (
        f"{path.name} holds {path.stat().st_size:,} bytes; keep figures small "
        f"(<= {MAX_BYTES:,}; run_notebooks.py --dpi)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_builds_from_its_cells(path):
    """The committed notebook's cells are what ``notebooks/_build.py`` writes."""
    build = runpy.run_path(str(FOLDER / "_build.py"))  # no __pycache__ in notebooks/
    expected = build["build"](path.name, build["_load_cells"](build["NOTEBOOKS"][path.name]))
    committed = nbformat.read(path, as_version=4)
    got = [(c.cell_type, c.source, c.id) for c in committed.cells]
    assert got == [(c.cell_type, c.source, c.id) for c in expected.cells], (
        f"{path.name} differs from its cells; run python notebooks/_build.py, "
        "then python benchmarks/run_notebooks.py --write"
    )
    assert committed.metadata.kernelspec == expected.metadata.kernelspec


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_like_the_committed_one(path):
    before = path.read_bytes()
    committed = _code_cells(nbformat.reads(before.decode(), as_version=4))
    ran = _code_cells(run_notebook(path, env=ENV, timeout=120))
    assert path.read_bytes() == before, "executing must not write into the repository"
    assert ran and all(c.execution_count for c in ran)
    figures = [i for i, c in enumerate(committed) if _shows_figure(c)]
    assert figures, f"{path.name} shows no figure"
    assert [i for i, c in enumerate(ran) if _shows_figure(c)] == figures, (
        "the cells showing a figure differ from the committed notebook's"
    )
    assert [i for i, c in enumerate(ran) if _prints(c)] == [
        i for i, c in enumerate(committed) if _prints(c)
    ], "the cells printing output differ from the committed notebook's"
