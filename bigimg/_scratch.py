"""The scratch-space policy: where every spilling step writes its temporary blocks.

One module owns it. Every step that spills (the halo spill of large sourceless inputs,
the distance transforms' exchanges and chamfer scans, ``watershed_ift``'s solve) asks
:class:`Scratch` for a fresh prefix and writes, reads, lists and deletes named blocks
under it. Where that prefix goes is decided in one place, :func:`scratch_base`:

1. ``temp_dir=`` given to the call (the functions that spill accept it), else
2. ``dask.config.get("bigimg.scratch")``, else
3. dask's own ``temporary-directory`` key, else
4. the system's temporary directory (:func:`tempfile.gettempdir`).

The location is a local directory or an fsspec URL prefix (``s3://bucket/tmp``,
``gs://...``, ``memory://...``; ``file://`` URLs are local directories). On a cluster
of several machines it must be one that every worker sees: a shared filesystem, or an
object store (no disk shared between machines is then needed).

Settings (``dask.config``, read on the client when a graph is built):

``bigimg.scratch``
    The scratch location (a path or a URL); default: dask's ``temporary-directory``,
    else the system's temporary directory.
``bigimg.scratch-options``
    A dict of fsspec ``storage_options`` for a URL location (``key``/``secret``,
    ``client_kwargs``, ``anon``, ...); default: none, the filesystem's own discovery
    (environment variables, configuration files, instance roles). The options live
    inside the fsspec filesystem object that the tasks carry (they reach the workers
    as that object pickles), and never appear in error messages.

**Validation before anything computes.** A new :class:`Scratch` (made when a graph
is built) checks its location: a URL whose scheme has no installed filesystem raises
``ImportError`` naming the package to install (``s3fs``, ``gcsfs``, ``adlfs``...);
then a tiny block is written and deleted at the location, so a bucket that does not
exist, missing or refused credentials or a location that is not writable raise
``ValueError`` at once, and nothing is left behind.

**Clean-up** has one rule: a scratch prefix belongs to the graph that made it and is
removed (recursively, on an object store) when the last graph holding it is garbage
collected, when its owner calls :meth:`Scratch.remove`, or at interpreter exit;
copies sent to workers never remove it on their own (a failing task removes it on
purpose).

**The interface** is the same for both kinds of location: write a named block whole
(:meth:`Scratch.write_block`), read it whole or a region of it
(:meth:`Scratch.read_block`: positional reads on a local disk; on an object store one
ranged GET of the region's span, or one per plane of it when the span is much longer
than the region, so memory stays within one block), list names with a prefix,
delete, remove all. Blocks are written whole and appear whole (a local block is
written under a temporary name and renamed; an object appears when its upload
completes). Only a local directory also hands out plain file paths
(:meth:`Scratch.file`) to engines that seek in or map their files; engines test
:attr:`Scratch.is_local` and use the named blocks otherwise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Mapping
from typing import Any

import dask
import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem
from fsspec.registry import known_implementations

from bigimg._rawfile import element_strides, read_runs

__all__ = [
    "OPTIONS_KEY",
    "SCRATCH_KEY",
    "Scratch",
    "check_temp_dir",
    "is_url",
    "scratch_base",
]

#: The ``dask.config`` key naming the default scratch location.
SCRATCH_KEY = "bigimg.scratch"
#: The ``dask.config`` key holding fsspec ``storage_options`` for a URL location.
OPTIONS_KEY = "bigimg.scratch-options"

#: A region of a block on an object store is fetched with one ranged GET of its span
#: unless the span is longer than twice the region plus this many bytes; then with
#: one ranged GET per plane of the region.
SPAN_SLACK_BYTES = 1 << 20


# --------------------------------------------------------------------------------------
# locations
# --------------------------------------------------------------------------------------
def is_url(location: Any) -> bool:
    """Whether ``location`` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(location, str) and "://" in location


def _protocol(url: str) -> str:
    return url.split("://", 1)[0].split("::")[0]


def _filesystem_class(url: str, name: str):
    """The fsspec filesystem class for ``url``'s scheme; a clear error if none is usable."""
    protocol = _protocol(url)
    try:
        return fsspec.get_filesystem_class(protocol)
    except ImportError as err:
        hint = str(err).strip() or f"install the fsspec filesystem for {protocol!r}"
        raise ImportError(
            f"`{name}` {url!r} needs the fsspec filesystem for {protocol}://, which is not "
            f"installed: {hint} (e.g. `pip install {_package_of(protocol)}`)."
        ) from None
    except ValueError:
        raise ValueError(
            f"`{name}` must be a local directory or an fsspec URL with a known scheme; "
            f"got {url!r} (fsspec knows no filesystem {protocol!r})."
        ) from None


def _package_of(protocol: str) -> str:
    """The package fsspec names for ``protocol`` ("Install s3fs to access S3")."""
    words = known_implementations.get(protocol, {}).get("err", "").split()
    for before, word in zip(words, words[1:]):
        if before.lower() == "install":
            return word.strip(".,;:'\"`")
    return "the fsspec implementation of " + protocol


def _options() -> dict:
    value = dask.config.get(OPTIONS_KEY, None)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"dask.config {OPTIONS_KEY!r} must be a dict of fsspec storage options; "
            f"got {type(value).__name__}."
        )
    return dict(value)


def _local_path(location: str | os.PathLike) -> str | None:
    """The local path of ``location`` (a path or a ``file://`` URL), else None."""
    if not is_url(location):
        return os.fspath(location)
    if _protocol(location) in ("file", "local") and "::" not in location:
        return LocalFileSystem._strip_protocol(location)
    return None


def check_temp_dir(temp_dir: Any, *, name: str = "temp_dir") -> None:
    """Raise if ``temp_dir`` (a per-call scratch override) cannot be a scratch location.

    Cheap checks only (no I/O beyond a local ``isdir``): a path or URL, a local
    directory that exists, a URL scheme whose filesystem is installed. Writing is
    probed when a :class:`Scratch` is made there.
    """
    if temp_dir is None:
        return
    if not isinstance(temp_dir, str | os.PathLike):
        raise TypeError(
            f"`{name}` must be a path (str or os.PathLike) or an fsspec URL; got {temp_dir!r}."
        )
    local = _local_path(temp_dir)
    if local is None:
        _filesystem_class(temp_dir, name)
    elif not os.path.isdir(local):
        raise ValueError(
            f"`{name}` must be an existing directory; got {os.fspath(temp_dir)!r}. "
            f"Create it first, or pass None to use dask.config's {SCRATCH_KEY!r} "
            "(default: the system's temporary directory)."
        )


def _resolve(temp_dir) -> tuple[str, str]:
    """The scratch location and the name of where it came from (for messages)."""
    if temp_dir is not None:
        check_temp_dir(temp_dir)
        return os.fspath(temp_dir), "temp_dir"
    for key in (SCRATCH_KEY, "temporary-directory"):
        value = dask.config.get(key, None)
        if value:
            check_temp_dir(value, name=f"dask.config {key!r}")
            return os.fspath(value), f"dask.config {key!r}"
    return tempfile.gettempdir(), "tempfile.gettempdir()"


def scratch_base(temp_dir: str | os.PathLike | None = None) -> str:
    """The location (path or URL) under which a new scratch prefix goes (module docstring)."""
    return _resolve(temp_dir)[0]


def _scrub(text: str, options: Mapping) -> str:
    """``text`` with every string value of ``options`` (credentials...) masked."""
    stack = [options]
    while stack:
        item = stack.pop()
        values = item.values() if isinstance(item, Mapping) else item
        for v in values:
            if isinstance(v, Mapping | list | tuple):
                stack.append(v)
            elif isinstance(v, str) and len(v) >= 4:
                text = text.replace(v, "***")
    return text


def _not_writable(location: str, source: str, err: BaseException, options=None) -> ValueError:
    reason = _scrub(f"{type(err).__name__}: {err}", options or {})
    if len(reason) > 300:
        reason = reason[:300] + "..."
    hint = (
        "check that the bucket exists, that credentials are available (dask.config "
        f"{OPTIONS_KEY!r}, the environment or the filesystem's own configuration) and "
        "that they allow writing there"
        if is_url(location) and _local_path(location) is None
        else "check that the directory exists and that this user may write in it"
    )
    return ValueError(
        f"scratch location {location!r} (from {source}) is not writable: {reason}. To fix: "
        f"{hint}; or pick another location with `temp_dir=` or dask.config {SCRATCH_KEY!r}."
    )


def _open_filesystem(location: str, source: str):
    """(filesystem, root path, options) for a URL location; errors never show the options."""
    options = _options()
    try:
        fs, root = fsspec.core.url_to_fs(location, **options)
    except ImportError:
        raise
    except Exception as err:
        raise _not_writable(location, source, err, options) from None
    return fs, root.rstrip("/"), options


def _probe_local(path: str, source: str) -> None:
    probe = os.path.join(path, f".bigimg-probe-{uuid.uuid4().hex}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0))
        try:
            os.write(fd, b"\0")
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise _not_writable(path, source, err) from None


def _probe_store(fs, root: str, location: str, source: str, options) -> None:
    probe = f"{root}/.bigimg-probe-{uuid.uuid4().hex}"
    try:
        fs.pipe_file(probe, b"\0")
    except Exception as err:
        raise _not_writable(location, source, err, options) from None
    try:
        fs.rm_file(probe)
    except Exception as err:
        raise _not_writable(location, source, err, options) from None


# --------------------------------------------------------------------------------------
# the scratch prefix
# --------------------------------------------------------------------------------------
class Scratch:
    """A fresh scratch prefix, removed when the graph that holds it is dropped.

    Its location is ``{base}/bigimg-{prefix}-{uuid}`` with ``base`` from
    :func:`scratch_base` (a local directory or a URL prefix); :attr:`path` is that
    path or URL. Making one probes the base (a tiny write and delete, see the module
    docstring) but creates nothing: the first block written makes the prefix. A
    copy sent to another process (a distributed worker) pickles as its location (and,
    on an object store, the fsspec filesystem) and does not own the prefix.
    """

    def __init__(
        self, temp_dir: str | os.PathLike | None = None, prefix: str = "spill", *, owner=True
    ) -> None:
        base, source = _resolve(temp_dir)
        name = f"bigimg-{prefix}-{uuid.uuid4().hex}"
        local = _local_path(base)
        if local is not None:
            _probe_local(local, source)
            self.fs, self.root = None, os.path.join(local, name)
            self.path = self.root
        else:
            fs, root, options = _open_filesystem(base, source)
            _probe_store(fs, root, base, source, options)
            self.fs, self.root = fs, f"{root}/{name}"
            self.path = f"{base.rstrip('/')}/{name}"
        self._cleanup = weakref.finalize(self, _remove, self.fs, self.root) if owner else None

    @classmethod
    def _remote(cls, path: str, fs=None, root: str | None = None) -> Scratch:
        out = cls.__new__(cls)
        out.path, out.fs, out.root, out._cleanup = path, fs, root or path, None
        return out

    def __reduce__(self):
        return (Scratch._remote, (self.path, self.fs, self.root))

    def __dask_tokenize__(self):
        return ("Scratch", self.path)

    def __repr__(self) -> str:
        return f"Scratch({self.path!r})"

    @property
    def is_local(self) -> bool:
        """Whether the prefix is a local (or shared POSIX) directory, with :meth:`file`."""
        return self.fs is None

    def _key(self, name: str) -> str:
        return f"{self.root}/{name}"

    def file(self, name: str) -> str:
        """The local path of block ``name`` (the directory may not exist yet).

        Only for a local directory (:attr:`is_local`): an object store has no paths.
        """
        if self.fs is not None:
            raise NotImplementedError(
                f"scratch {self.path} is an object store: it has no file paths; use "
                "write_block/read_block (check Scratch.is_local first)."
            )
        return os.path.join(self.root, name)

    def write_block(self, name: str, block: np.ndarray) -> None:
        """Write ``block`` whole as C-order bytes; a retried task rewrites the same bytes."""
        block = np.ascontiguousarray(block)
        if self.fs is not None:
            self.fs.pipe_file(self._key(name), block.tobytes())
            return
        os.makedirs(self.root, exist_ok=True)
        path = self.file(name)
        tmp = f"{path}.{os.getpid()}.partial"
        block.tofile(tmp)
        os.replace(tmp, path)

    def read_block(
        self, name: str, shape: tuple[int, ...], dtype, region: tuple[slice, ...] | None = None
    ) -> np.ndarray:
        """Read ``region`` (default: all) of block ``name`` written with ``shape``/``dtype``."""
        shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        if region is None:
            region = tuple(slice(0, n) for n in shape)
        region = tuple(region)
        if any(r.stop <= r.start for r in region):
            return np.empty(tuple(max(0, r.stop - r.start) for r in region), dtype)
        if self.fs is None:
            return read_runs(self.file(name), 0, shape, region, dtype)
        return _read_object(self.fs, self._key(name), shape, region, dtype)

    def list(self, prefix: str = "") -> list[str]:
        """Names of the complete blocks present that start with ``prefix``."""
        if self.fs is None:
            try:
                names = os.listdir(self.root)
            except FileNotFoundError:
                return []
            names = [n for n in names if not n.endswith(".partial")]
        else:
            self.fs.invalidate_cache(self.root)
            try:
                found = self.fs.find(self.root)
            except FileNotFoundError:
                return []
            root = self.root.strip("/") + "/"
            names = [f.strip("/").removeprefix(root) for f in found]
        return sorted(n for n in names if n.startswith(prefix))

    def delete(self, *names: str) -> None:
        """Remove the blocks ``names`` that are present."""
        if self.fs is None:
            for name in names:
                try:
                    os.remove(self.file(name))
                except FileNotFoundError:
                    pass
            return
        keys = [self._key(n) for n in names]
        if not keys:
            return
        try:
            self.fs.rm(keys)
        except FileNotFoundError:
            for key in keys:
                try:
                    self.fs.rm_file(key)
                except FileNotFoundError:
                    pass

    def remove(self) -> None:
        """Remove the whole prefix now (recursively on an object store)."""
        _remove(self.fs, self.root)


def _remove(fs, root: str) -> None:
    if fs is None:
        shutil.rmtree(root, ignore_errors=True)
        return
    try:
        fs.rm(root, recursive=True)
    except Exception:  # nothing there, or the store is gone: as rmtree(ignore_errors)
        pass
    try:
        fs.invalidate_cache(root)
    except Exception:
        pass


def _read_object(fs, key: str, shape, region, dtype) -> np.ndarray:
    """``region`` of the C-order object ``key`` by ranged GETs (see the module docstring)."""
    out = np.empty(tuple(s.stop - s.start for s in region), dtype)
    if out.size == 0:
        return out
    itemsize = dtype.itemsize
    strides = element_strides(shape, "C")
    if out.shape == shape:  # the whole block: one GET (a range: s3fs asks no HEAD then)
        data = fs.cat_file(key, start=0, end=out.nbytes)
        _check_length(key, len(data), out.nbytes)
        out.reshape(-1).view(np.uint8)[:] = np.frombuffer(data, np.uint8)
        return out
    first = sum(s.start * st for s, st in zip(region, strides, strict=True))
    last = sum((s.stop - 1) * st for s, st in zip(region, strides, strict=True))
    span = last - first + 1
    if span * itemsize <= 2 * out.nbytes + SPAN_SLACK_BYTES or out.ndim == 1:
        data = fs.cat_file(key, start=first * itemsize, end=(last + 1) * itemsize)
        _check_length(key, len(data), span * itemsize)
        out[...] = _strided(data, dtype, out.shape, strides)
        return out
    # one GET per plane (index of the leading axis) of the region
    inner = [(s.stop - 1 - s.start) * st for s, st in zip(region[1:], strides[1:], strict=True)]
    plane_span = sum(inner) + 1
    starts = [first + i * strides[0] for i in range(out.shape[0])]
    ranges = fs.cat_ranges(
        [key] * len(starts),
        [s * itemsize for s in starts],
        [(s + plane_span) * itemsize for s in starts],
    )
    for i, data in enumerate(ranges):
        if isinstance(data, BaseException):
            raise data
        _check_length(key, len(data), plane_span * itemsize)
        out[i] = _strided(data, dtype, out.shape[1:], strides[1:])
    return out


def _strided(data: bytes, dtype, shape, strides) -> np.ndarray:
    buf = np.frombuffer(data, dtype)
    byte_strides = tuple(s * dtype.itemsize for s in strides)
    return np.lib.stride_tricks.as_strided(buf, shape=shape, strides=byte_strides, writeable=False)


def _check_length(key: str, got: int, wanted: int) -> None:
    if got < wanted:
        raise OSError(
            f"scratch object {key} holds {got:,} bytes where {wanted:,} were expected: it "
            "was changed or truncated by another process; re-run the computation."
        )
