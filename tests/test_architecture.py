"""The package's layout is its architecture: these rules keep it so.

* no import cycle among bigimg's modules, counting imports inside functions;
* no module imports another subpackage's private module: ``bigimg.a._b`` may be
  imported only from inside ``bigimg.a`` (engines export what others may use from
  their ``__init__``);
* no module over 600 lines and no folder of more than 16 modules;
* every engine folder's ``__init__`` docstring says what it owns and may import;
* every third-party dependency in ``pyproject.toml`` is imported by ``bigimg/``.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bigimg"
MAX_LINES = 600
MAX_MODULES_PER_FOLDER = 16


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _targets(module: str, path: Path, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".")
            if path.name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - node.level + 1]
            stem = ".".join(base + ([node.module] if node.module else []))
        else:
            stem = node.module or ""
        names = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names]
    out = []
    for name in names:
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in MODULES and name != module:
            out.append(name)
    return out


def _imports() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges[module].update(_targets(module, path, node))
    return edges


IMPORTS = _imports()


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    return found


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def test_no_import_cycles():
    # a package importing its own submodules is its job, not a cycle
    edges = {
        m: {t for t in ts if not (MODULES[m].name == "__init__.py" and t.startswith(m + "."))}
        for m, ts in IMPORTS.items()
    }
    assert _cycles(edges) == []


def test_no_private_module_of_another_package_is_imported():
    bad = []
    for module, targets in IMPORTS.items():
        for target in targets:
            leaf = target.rsplit(".", 1)[-1]
            if not leaf.startswith("_") or leaf.startswith("__"):
                continue
            owner = target.rsplit(".", 1)[0]
            package = _package_of(module)
            if package != owner and not package.startswith(owner + "."):
                bad.append(f"{module} -> {target}")
    assert bad == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines; split it"


def test_folder_size():
    counts = Counter(path.parent for path in MODULES.values())
    assert {str(p): n for p, n in counts.items() if n > MAX_MODULES_PER_FOLDER} == {}


def test_engine_folders_say_what_they_own():
    for init in PACKAGE.glob("_*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "Owns:" in doc and "May import:" in doc, f"{init}: say what it owns and imports"


def test_every_dependency_is_imported():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    imported = set()
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    distribution_to_module = {"scikit-image": "skimage", "pyyaml": "yaml"}
    missing = []
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()
        if distribution_to_module.get(name, name.replace("-", "_")) not in imported:
            missing.append(name)
    assert missing == []
