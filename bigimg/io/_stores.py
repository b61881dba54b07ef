"""Where a store lives: a local path or an fsspec URL, and how bigimg reaches it.

:func:`locate` turns what a user passed (``"out.zarr"``, ``pathlib.Path``,
``"file:///data/out.zarr"``, ``"s3://bucket/out.zarr"``, ``"memory://x.zarr"``, ...)
and ``storage_options`` into a :class:`Location`: the filesystem, the path inside it,
and the zarr store object to open there. ``file://`` URLs are local paths.

Credentials stay inside the filesystem and zarr store objects (which need them to
sign requests); they never appear in a message, a repr or a dask key. Messages show
the URL with any ``user:password@`` part removed.

Bad locations fail here, before anything is written or computed: a scheme no
installed package handles (the message names the package to install), a bucket that
does not exist, credentials the store refuses.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec
from fsspec.registry import get_filesystem_class, known_implementations

__all__ = ["Location", "check_reachable", "locate", "redact"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_METADATA = ("zarr.json", ".zarray", ".zgroup", ".zattrs")


def redact(url: str) -> str:
    """``url`` without the ``user:password@`` part of its authority, if it has one."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@", r"\1", url)


@dataclass(frozen=True, eq=False)
class Location:
    """A store's place: ``fs`` (an fsspec filesystem) and ``path`` inside it.

    ``url`` is what the caller passed (absolute for local paths); ``shown`` is the same
    without credentials, for messages. For local paths ``path == url`` and ``fs`` is
    fsspec's local filesystem. Pickles with the filesystem (workers reach the store
    themselves); its repr shows ``shown`` only.
    """

    url: str
    path: str
    fs: Any = field(repr=False)
    options: Mapping | None = field(default=None, repr=False)

    @property
    def local(self) -> bool:
        return self.options is None

    @property
    def shown(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"Location({self.shown!r})"

    def bare(self) -> Location:
        """This location without its storage options (the filesystem keeps what it needs).

        What goes into a dask graph: tasks reach the store through ``fs`` alone.
        """
        return self if self.local else Location(self.url, self.path, self.fs, {})

    def zarr_store(self, *, read_only: bool):
        """What zarr opens: the local path, or an fsspec-backed zarr store."""
        if self.local:
            return self.path
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(
            self.url, storage_options=dict(self.options), read_only=read_only
        )

    def exists(self) -> bool:
        """True if anything is stored at this location (a file, folder or prefix)."""
        if self.local:
            return os.path.lexists(self.path)
        self.fs.invalidate_cache()
        return bool(self.fs.exists(self.path))

    def put(self, key: str, data: bytes = b"") -> None:
        """Store ``data`` under ``key`` (a ``/``-separated name inside this location)."""
        target = f"{self.path.rstrip('/')}/{key}"
        if self.local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
        else:
            self.fs.pipe_file(target, data)

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (relative to ``prefix``)."""
        root = f"{self.path.rstrip('/')}/{prefix.strip('/')}"
        if self.local:
            found = []
            for folder, _, files in os.walk(root):
                rel = os.path.relpath(folder, root)
                found += [f if rel == "." else f"{rel}/{f}".replace(os.sep, "/") for f in files]
            return found
        self.fs.invalidate_cache()
        if not self.fs.exists(root):
            return []
        start = len(self.fs._strip_protocol(root).rstrip("/")) + 1
        return [p[start:] for p in self.fs.find(root)]

    def remove(self, key: str = "") -> None:
        """Delete ``key`` (a file or everything under a prefix); ``""``: the whole store."""
        target = f"{self.path.rstrip('/')}/{key}".rstrip("/") if key else self.path
        if self.local:
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target, ignore_errors=True)
            elif os.path.lexists(target):
                os.unlink(target)
            return
        self.fs.invalidate_cache()
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)
        self.fs.invalidate_cache()

    def stamp(self) -> tuple:
        """What changes when the store's metadata is rewritten (names dask graphs)."""
        return tuple(self.file_stamp(name) or 0 for name in _METADATA)

    def file_stamp(self, key: str):
        """What changes when the object ``key`` is rewritten or replaced; None if absent.

        Locally (size, modification time, inode); at a URL the object's ETag (or
        modification time) and size, asked for afresh (no listing cache).
        """
        target = f"{self.path.rstrip('/')}/{key}"
        if self.local:
            try:
                st = os.stat(target)
            except (FileNotFoundError, NotADirectoryError):
                return None
            return (st.st_size, st.st_mtime_ns, st.st_ino)
        try:
            self.fs.invalidate_cache(target)
            info = self.fs.info(target)
        except (FileNotFoundError, OSError):
            return None
        return (
            str(info.get("ETag") or info.get("etag") or info.get("mtime") or "")
            + str(info.get("LastModified") or info.get("created") or "")
            + f":{info.get('size')}"
        )


def locate(path: Any, storage_options: Mapping | None = None, *, name: str = "path") -> Location:
    """Check ``path`` (a local path or URL) and ``storage_options``; return its Location.

    Raises ``TypeError`` for a path that is not a str/PathLike or options that are not a
    mapping, ``ValueError`` for options given with a local path or an unknown URL
    scheme, ``ImportError`` (naming the package) for a known scheme whose filesystem
    package is not installed. Nothing is read or written.
    """
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"`{name}` must be a str or os.PathLike; got {type(path).__name__}.")
    path = os.fspath(path)
    if storage_options is not None and not isinstance(storage_options, Mapping):
        raise TypeError(
            "`storage_options` must be a dict of options for the URL's filesystem (for "
            f"s3://: key, secret, endpoint_url, ...) or None; got {type(storage_options).__name__}."
        )
    match = _SCHEME.match(path)
    if match and match.group(1).lower() in ("file", "local"):
        path = path[match.end() :]
        if path.startswith("localhost/"):
            path = path[len("localhost") :]
        match = None
    if match is None and "::" not in path:
        if storage_options:
            raise ValueError(
                f"`storage_options` apply to URLs such as s3://bucket/x.zarr; `{name}` "
                f"{path!r} is a local path. Drop storage_options or pass a URL."
            )
        path = os.path.abspath(path)
        return Location(path, path, fsspec.filesystem("file"))
    scheme = match.group(1).lower() if match else path.split("::", 1)[0].split(":", 1)[0]
    _check_scheme(scheme, path, name)
    options = dict(storage_options or {})
    try:
        fs, inner = fsspec.url_to_fs(path, **options)
    except ImportError as exc:
        raise ImportError(f"`{name}` {redact(path)}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"`storage_options` were refused by the {scheme}:// filesystem for "
            f"{redact(path)} ({type(exc).__name__}); check the option names."
        ) from None
    return Location(path, inner, fs, options)


def _check_scheme(scheme: str, path: str, name: str) -> None:
    try:
        get_filesystem_class(scheme)
    except ValueError:
        raise ValueError(
            f"`{name}` {redact(path)} uses the URL scheme {scheme}://, which no fsspec "
            "filesystem knows; check the spelling, or install the package that provides it "
            "(s3fs for s3://, gcsfs for gs://, adlfs for az://, see fsspec's list of "
            "implementations)."
        ) from None
    except ImportError:
        module = known_implementations.get(scheme, {}).get("class", scheme).split(".")[0]
        raise ImportError(
            f"`{name}` {redact(path)} needs the package {module!r} to reach {scheme}:// "
            f"storage; install it (pip install {module})."
        ) from None


def check_reachable(loc: Location, func: str) -> None:
    """For bucket stores (S3, GCS, Azure): fail clearly if the bucket is missing or refused.

    ``fs.exists`` swallows errors (a refused request looks like a missing object), so
    the bucket is asked for with ``fs.info``.
    """
    if loc.local or not hasattr(loc.fs, "split_path"):
        return
    bucket = loc.fs.split_path(loc.path)[0]
    try:
        loc.fs.invalidate_cache()
        loc.fs.info(bucket)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{func}: the bucket {bucket!r} of {loc.shown} does not exist; create it first "
            "or check its name."
        ) from None
    except Exception as exc:
        refused = isinstance(exc, PermissionError) or "Credential" in type(exc).__name__
        what = "refused access to" if refused else "could not reach"
        raise (PermissionError if refused else OSError)(
            f"{func}: the store {what} {loc.shown} ({type(exc).__name__}: "
            f"{_first_line(exc)}); check the credentials and endpoint in `storage_options` "
            "or the environment (e.g. AWS_PROFILE, AWS_ACCESS_KEY_ID)."
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
