"""Every public function and class has a numpydoc docstring that a user can follow.

For each object in the ``__all__`` of the public namespaces (objects defined by bigimg;
re-exported scipy functions keep scipy's docs): functions taking arguments have a
"Parameters" section naming exactly the signature's parameters, functions have
"Returns" (or "Yields"), everything has "Examples", and no example imports a private
module (``from bigimg._x`` / ``bigimg.y._z``): examples are what users copy.
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

NAMESPACES = [
    "bigimg",
    "bigimg.ndimage",
    "bigimg.measure",
    "bigimg.stats",
    "bigimg.restoration",
    "bigimg.io",
    "bigimg.display",
    "bigimg.data",
    "bigimg.testing",
]

# TODO(issue 15): public objects whose docstrings are still being fixed by the helpers
# that own their modules. They are strict expected failures (an object that starts to
# pass fails the run until it is removed here); the set must end up empty.
TODO_OTHER_MODULES: set[str] = set()

_SECTION = re.compile(r"^(?P<title>[A-Z][A-Za-z ]+)\n(?P<rule>-+)$", re.M)
_PRIVATE_IMPORT = re.compile(
    r"^\s*(?:>>>|\.\.\.)\s+(?:from\s+bigimg(?:\.\w+)*\._\w*[\s.]"
    r"|import\s+bigimg(?:\.\w+)*\._"
    r"|from\s+bigimg(?:\.\w+)*\s+import\s+.*\b_\w+)",
    re.M,
)


def _public_objects() -> dict[str, object]:
    """Qualified name (first namespace exporting it) -> object, defined by bigimg."""
    found: dict[int, tuple[str, object]] = {}
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("bigimg"):
                continue  # a re-exported scipy function: scipy's docstring
            found.setdefault(id(obj), (f"{namespace}.{name}", obj))
    return dict(found.values())


def _sections(doc: str) -> dict[str, str]:
    """numpydoc section title -> its body (the text up to the next title)."""
    matches = [m for m in _SECTION.finditer(doc) if len(m["rule"]) == len(m["title"])]
    return {
        m["title"]: doc[m.end() : nxt.start() if nxt else len(doc)]
        for m, nxt in zip(matches, matches[1:] + [None])
    }


def _documented_parameters(body: str) -> set[str]:
    """Names on the entry lines (the least indented ones) of a Parameters section."""
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        return set()
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    names = set()
    for line in lines:
        if len(line) - len(line.lstrip()) == indent:
            for name in line.split(" : ")[0].split(","):
                names.add(name.strip().lstrip("*"))
    return names


def problems(obj: object) -> list[str]:
    """What the docstring of ``obj`` lacks (an empty list when it is complete)."""
    doc = inspect.getdoc(obj) or ""
    sections = _sections(doc)
    found = []
    if inspect.isfunction(obj):
        params = set(inspect.signature(obj).parameters)
        if params:
            if "Parameters" not in sections:
                found.append("no Parameters section")
            else:
                documented = _documented_parameters(sections["Parameters"])
                if params - documented:
                    found.append(f"parameters not documented: {sorted(params - documented)}")
                if documented - params:
                    found.append(f"documented but not parameters: {sorted(documented - params)}")
        if "Returns" not in sections and "Yields" not in sections:
            found.append("no Returns (or Yields) section")
    if "Examples" not in sections:
        found.append("no Examples section")
    found += [f"example imports a private module: {line.strip()!r}" for line in _find_private(doc)]
    return found


def _find_private(doc: str) -> list[str]:
    """The example lines of ``doc`` that import a private bigimg module or name."""
    return [line for line in doc.splitlines() if _PRIVATE_IMPORT.match(line)]


PUBLIC = _public_objects()


def _param(qualname: str):
    if qualname in TODO_OTHER_MODULES:
        mark = pytest.mark.xfail(strict=True, reason="issue 15: docstring not fixed yet")
        return pytest.param(qualname, marks=mark, id=qualname)
    return pytest.param(qualname, id=qualname)


@pytest.mark.parametrize("qualname", [_param(q) for q in sorted(PUBLIC)])
def test_docstring_is_complete(qualname):
    found = problems(PUBLIC[qualname])
    assert not found, f"{qualname}: " + "; ".join(found)


def test_todo_names_are_public():
    """The expected-failure list names only objects that exist (no stale entries)."""
    assert TODO_OTHER_MODULES <= set(PUBLIC)


@pytest.mark.parametrize(
    "doc, expected",
    [
        (">>> from bigimg._halo import apply_blockwise", 1),
        (">>> from bigimg.ndimage._filters import sobel", 1),
        (">>> import bigimg._args as a", 1),
        (">>> from bigimg import _docs", 1),
        (">>> from bigimg.ndimage import sobel", 0),
        (">>> from bigimg.data import synthetic_ct", 0),
        (">>> import bigimg", 0),
    ],
)
def test_private_import_detection(doc, expected):
    assert len(_find_private(doc)) == expected


def test_problems_are_found():
    def documented(a, b=1):
        """Summary.

        Parameters
        ----------
        a : int
            One.
        c : int
            Not a parameter.

        Examples
        --------
        >>> from bigimg.ndimage._filters import sobel
        """

    assert problems(documented) == [
        "parameters not documented: ['b']",
        "documented but not parameters: ['c']",
        "no Returns (or Yields) section",
        "example imports a private module: '>>> from bigimg.ndimage._filters import sobel'",
    ]


def test_sections_and_parameters_are_parsed():
    doc = inspect.cleandoc(
        """Summary.

        Parameters
        ----------
        a, b : int
            Two.
        **kwargs
            Rest.

        Returns
        -------
        int
        """
    )
    sections = _sections(doc)
    assert set(sections) == {"Parameters", "Returns"}
    assert _documented_parameters(sections["Parameters"]) == {"a", "b", "kwargs"}
