"""matplotlib, imported only when a figure is asked for (it is an optional dependency).

Figures are built with :class:`matplotlib.figure.Figure`, not ``pyplot``: no global
state, no backend needed (saving a PNG works on a headless machine), no figure kept
alive by pyplot after the caller drops it, and no double display in notebooks.
"""

from __future__ import annotations

import importlib
import io
import sys
from types import MethodType, ModuleType

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

    Inside IPython/Jupyter the figure also renders itself as PNG (``_repr_png_``): a
    figure pyplot does not manage is otherwise shown as ``<Figure size ...>`` text in a
    fresh kernel until pyplot has drawn something (matplotlib 3.11 registers its
    notebook formatter lazily).
    """
    mpl = require_matplotlib(func)
    fig = mpl.figure.Figure(figsize=figsize, layout="constrained")
    if _in_ipython():
        importlib.import_module("matplotlib.pyplot")  # the kernel's matplotlib integration
        fig._repr_png_ = MethodType(_png, fig)
    return fig


def _png(fig) -> bytes:
    """The figure as PNG bytes, cropped like the notebook's inline backend."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()
