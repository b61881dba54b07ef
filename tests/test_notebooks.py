"""The tutorial notebooks run top to bottom on a tiny volume, and are committed without outputs.

Deselect with ``pytest -m "not notebooks"``. Each notebook asserts its own results
(equality with scipy on small crops), so a failing cell fails its test.
"""

from __future__ import annotations

import pathlib
import runpy

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from bigimg.testing._notebooks import notebook_outputs, run_notebook  # noqa: E402

pytestmark = pytest.mark.notebooks

FOLDER = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("[0-9][0-9]_*.ipynb"))
ENV = {"BIGIMG_NB_SIZE": "48", "MPLBACKEND": "Agg"}


def test_notebooks_found():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4 and names[0].startswith("01_"), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_no_outputs(path):
    dirty = notebook_outputs(path)
    assert not dirty, (
        f"{path.name}: code cells {dirty} hold outputs or execution counts; "
        "strip them (python notebooks/_build.py, or nbstripout) before committing"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_builds_from_its_cells(path):
    """The committed notebook is what ``notebooks/_build.py`` writes from the cell files."""
    build = runpy.run_path(str(FOLDER / "_build.py"))  # no __pycache__ in notebooks/
    expected = build["build"](path.name, build["_load_cells"](build["NOTEBOOKS"][path.name]))
    assert nbformat.read(path, as_version=4) == expected, (
        f"{path.name} differs from its cells; run python notebooks/_build.py"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path):
    before = path.read_bytes()
    nb = run_notebook(path, env=ENV, timeout=120)
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert ran and all(c.execution_count for c in ran)
    assert path.read_bytes() == before, "executing must not write into the repository"
