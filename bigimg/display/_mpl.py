"""matplotlib, imported only when a figure is asked for (it is an optional dependency).

Figures are built with :class:`matplotlib.figure.Figure`, not ``pyplot``: no global
state, no backend needed (saving a PNG works on a headless machine), no figure kept
alive by pyplot after the caller drops it, and no double display in notebooks.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

__all__ = ["new_figure", "require_matplotlib"]

INSTALL_HINT = 'pip install matplotlib (or pip install "bigimg[display]")'


def require_matplotlib(func: str) -> ModuleType:
    """``matplotlib`` with ``colors`` and ``figure`` loaded, or a clear ImportError."""
    try:
        mpl = importlib.import_module("matplotlib")
        importlib.import_module("matplotlib.colors")
        importlib.import_module("matplotlib.figure")
    except ImportError as err:
        raise ImportError(
            f"bigimg.display.{func} draws with matplotlib, which is not installed; "
            f"install it with: {INSTALL_HINT}"
        ) from err
    return mpl


def _in_ipython() -> bool:
    ipython = sys.modules.get("IPython")
    return ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None


def new_figure(func: str, figsize: tuple[float, float]):
    """A new constrained-layout :class:`~matplotlib.figure.Figure` (not managed by pyplot).

    Inside IPython/Jupyter, pyplot is imported once so that the kernel's matplotlib
    integration is active and a returned figure is shown as an image.
    """
    mpl = require_matplotlib(func)
    if _in_ipython():
        importlib.import_module("matplotlib.pyplot")
    return mpl.figure.Figure(figsize=figsize, layout="constrained")
