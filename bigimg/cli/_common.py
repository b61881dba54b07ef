"""What every command shares: the user-error class and parsers of option values."""

from __future__ import annotations

import math
import os
import re

import numpy as np

__all__ = [
    "UsageError",
    "disk_size",
    "parse_bytes",
    "parse_chunks",
    "parse_floats",
    "parse_ints",
    "parse_dtype",
    "shape_text",
]


class UsageError(ValueError):
    """A mistake in the command line or in a pipeline file.

    The command line prints its message as one line on stderr and exits with code 2.
    """


_SPLIT = re.compile(r"\s*[,x×]\s*")


def parse_ints(text: str, option: str, *, minimum: int = 0) -> tuple[int, ...]:
    """``"512,512,512"`` or ``"512x512x512"`` -> ``(512, 512, 512)``."""
    parts = [p for p in _SPLIT.split(str(text).strip()) if p]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if not values or any(v < minimum for v in values):
        raise UsageError(
            f"{option} must be integers >= {minimum} separated by commas, e.g. 512,512,512; "
            f"got {text!r}."
        )
    return values


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    """``"2,0.5,0.5"`` -> ``(2.0, 0.5, 0.5)`` (positive, finite)."""
    parts = [p for p in re.split(r"\s*,\s*", str(text).strip()) if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise UsageError(
            f"{option} must be positive numbers separated by commas, e.g. 2,0.5,0.5; got {text!r}."
        )
    return values


def parse_chunks(text: str | None, option: str = "--chunks"):
    """``None``, ``"auto"``, ``"128"`` or ``"64,128,128"`` -> a value the io functions take."""
    if text is None or text == "auto":
        return text
    values = parse_ints(text, option, minimum=1)
    return values[0] if len(values) == 1 else values


def parse_dtype(text, option: str = "--dtype") -> np.dtype:
    """A numpy dtype from its name (``uint16``, ``>u2``, ``float32``)."""
    try:
        dtype = np.dtype(text)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise UsageError(
            f"{option} must be a numeric numpy dtype such as uint8, uint16, >u2 or float32; "
            f"got {text!r}."
        )
    return dtype


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 2**10, "mib": 2**20,
          "gib": 2**30, "tib": 2**40}  # fmt: skip


def parse_bytes(text: str, option: str = "--memory-limit") -> int:
    """``"2GiB"``, ``"500MB"``, ``"4e9"`` -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise UsageError(
            f"{option} must be a size such as 2GiB, 500MB or 4e9 (bytes); got {text!r}."
        )
    value = int(float(match.group(1)) * _UNITS[match.group(2)])
    if value <= 0:
        raise UsageError(f"{option} must be a positive size; got {text!r}.")
    return value


def shape_text(shape) -> str:
    """``(512, 512, 512)`` -> ``"512 x 512 x 512"``."""
    return " x ".join(str(n) for n in shape) if len(shape) else "scalar"


def disk_size(path: str) -> int:
    """Bytes of a file, or of every file under a folder (symbolic links not followed)."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total
