"""Write the tutorial notebooks from the cell texts in ``_cells_*.py`` (without outputs).

After editing a ``_cells_*.py`` file run ``python notebooks/_build.py [NAME ...]``
(only the notebooks whose file names start with a NAME, e.g. ``05``; all without one:
rebuilding drops a notebook's committed outputs), then
``python benchmarks/run_notebooks.py --write`` (executes every notebook at its default
size and writes the outputs back); commit all three. Each ``_cells_*.py`` holds a list
``CELLS`` of ``("md", text)`` / ``("code", text)``.
"""

from __future__ import annotations

import pathlib
import runpy
import sys

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
NOTEBOOKS = {
    "01_open_and_display.ipynb": "_cells_01.py",
    "02_statistics_and_filters.ipynb": "_cells_02.py",
    "03_morphology_and_segmentation.ipynb": "_cells_03.py",
    "04_cluster_and_ome_zarr.ipynb": "_cells_04.py",
    "05_nifti_end_to_end.ipynb": "_cells_05.py",
}


def _load_cells(name: str) -> list[tuple[str, str]]:
    return runpy.run_path(str(HERE / name))["CELLS"]  # no __pycache__ left behind


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, text) in enumerate(cells):
        text = text.strip("\n")
        cell = (
            nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        )
        cell["id"] = f"{name[:2]}-{i:02d}"  # stable ids: rebuilding gives no diff
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    unknown = [n for n in names if not any(out.startswith(n) for out in NOTEBOOKS)]
    if unknown:
        print(f"no notebook starts with {', '.join(unknown)}; known: {', '.join(NOTEBOOKS)}")
        return 2
    for out, src in NOTEBOOKS.items():
        if names and not any(out.startswith(n) for n in names):
            continue
        if not (HERE / src).exists():
            continue
        nb = build(out, _load_cells(src))
        nbformat.write(nb, HERE / out)
        print(f"wrote {out}: {len(nb.cells)} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
