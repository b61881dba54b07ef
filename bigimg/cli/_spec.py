"""Reading and checking a pipeline file (TOML, or YAML when PyYAML is installed).

Everything here runs before any voxel is computed: the file's structure, every op and
its parameters against the function's signature, every reference between inputs and
steps, every output path. Problems raise :class:`PipelineError`, whose message names
the file, the place (``steps[2] 'bone'``, ``outputs.labels``) and, when it can be
found, the line.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field

from bigimg.cli._common import UsageError
from bigimg.cli._info import unit_name
from bigimg.cli._locate import Locator
from bigimg.cli._ops import Op, resolve_op
from bigimg.cli._outputs import output_format, table_format
from bigimg.cli._physical import check_spacing, input_frame
from bigimg.cli._sources import detect_format, open_volume

__all__ = ["Input", "Output", "Pipeline", "PipelineError", "Step", "Table", "load_pipeline"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOP = ("input", "inputs", "steps", "outputs", "table")
_INPUT_KEYS = (
    "path",
    "format",
    "shape",
    "dtype",
    "offset",
    "order",
    "allow_trailing",
    "chunks",
    "component",
    "series",
    "level",
)
_FRAME_KEYS = ("spacing", "unit")  # the voxel size, when the file has none or a wrong one
_OUTPUT_KEYS = ("path", "format", "chunks", "zarr_format", "compression")
_OME_KEYS = {
    "scale": "scale",
    "units": "units",
    "levels": "levels",
    "factors": "factors",
    "reduce": "image_reduce",
    "ome_version": "ome_version",
}
_TABLE_KEYS = ("labels", "intensity", "properties", "path", "spacing", "unit")


#: Largest pipeline file read, and most values its parsed data may expand to (YAML
#: aliases share nodes: a few hundred bytes can expand to billions of values).
MAX_FILE_BYTES = 2**20
MAX_VALUES = 100_000


class PipelineError(UsageError):
    """A problem in a pipeline file, found before anything is computed.

    ``problems`` lists every problem found in one pass (the message joins them).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]

    @classmethod
    def of(cls, problems: list[str]) -> PipelineError:
        """One error for several problems (the message is their lines)."""
        if len(problems) == 1:
            return cls(problems[0])
        return cls(f"{len(problems)} problems:\n" + "\n".join(problems), list(problems))


@dataclass
class Input:
    name: str
    path: str
    format: str
    options: dict
    where: str
    array: object = None  # the lazy dask array, opened while checking
    frame: object = None  # its physical frame (bigimg.cli._physical.Frame) or None


@dataclass
class Step:
    index: int
    name: str
    op: Op
    input: str
    params: dict
    refs: list[str]
    where: str


@dataclass
class Output:
    name: str
    path: str
    format: str
    options: dict
    labels: list[str]
    where: str


@dataclass
class Table:
    labels: str
    intensity: str | None
    properties: list[str]
    path: str
    format: str
    spacing: object
    where: str
    unit: str | None = None


@dataclass
class Pipeline:
    file: str
    base: str
    inputs: dict[str, Input] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    def consumers(self, name: str) -> list[str]:
        """Who reads ``name``: ``step:<n>``, ``output:<path>``, ``table:<path>`` entries."""
        found = [f"step:{s.name}" for s in self.steps for r in s.refs if r == name]
        found += [f"output:{o.path}" for o in self.outputs if o.name == name]
        found += [f"output:{o.path}" for o in self.outputs if name in o.labels]
        found += [f"table:{t.path}" for t in self.tables if name in (t.labels, t.intensity)]
        return found


def _read(file: str):
    """Parse ``file``; return the data and a locator. The cost of both is bounded."""
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PipelineError(f"pipeline file {file} does not exist.") from None
    except IsADirectoryError:
        raise PipelineError(
            f"pipeline file {file} is a folder; name a .toml or .yaml file."
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise PipelineError(
            f"pipeline file {file} is larger than {MAX_FILE_BYTES:,} bytes; a pipeline file "
            "holds a few steps (is it the right file?)."
        )
    text = raw.decode("utf-8", errors="replace")
    try:
        data, locator = _parse(file, text)
    except RecursionError:
        raise PipelineError(
            f"{os.path.basename(file)} nests lists or tables too deeply to be a pipeline file."
        ) from None
    _check_cost(file, data)
    return data, locator


def _check_cost(file: str, data) -> None:
    """Refuse data that expands to more than :data:`MAX_VALUES` values (before any check).

    Counts values as a walk over the data would meet them, so shared nodes (YAML
    aliases) count every time; the walk stops at the limit, so it costs at most that.
    """
    stack, seen = [data], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise PipelineError(
                f"{os.path.basename(file)} expands to more than {MAX_VALUES:,} values (YAML "
                "anchors and aliases repeat what they name); a pipeline file needs far fewer."
            )
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)


def _parse(file: str, text: str):
    if file.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise PipelineError(
                f"{file} is YAML, which needs PyYAML (pip install pyyaml); "
                "or write the pipeline as TOML."
            ) from None
        try:
            data, root = yaml.safe_load(text), yaml.compose(text)
        except yaml.YAMLError as exc:
            raise PipelineError(f"{os.path.basename(file)} is not valid YAML: {exc}") from None
        return data, Locator(text, root)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"{os.path.basename(file)} is not valid TOML: {exc}.") from None
    return data, Locator(text)


class _Checker:
    def __init__(self, file: str, base: str, locator: Locator, overwrite: bool) -> None:
        self.file, self.base, self.loc, self.overwrite = file, base, locator, overwrite
        self.root = os.path.realpath(base)
        self.written: dict[str, str] = {}
        self.step_names: list = []
        self.input_names: list = []
        self.last_step: str | None = None
        self.problems: list[str] = []
        self.broken: set = set()  # names whose definition has a problem (no cascades)

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        """Record a problem of one item and go on with the next (every problem, one pass)."""
        try:
            yield
        except PipelineError as exc:
            self.problems.extend(exc.problems)

    def fail(self, where: str, path: tuple, message: str):
        line = self.loc.line(path)
        at = f" (line {line})" if line else ""
        raise PipelineError(f"{os.path.basename(self.file)}: {where}{at}: {message}")

    def mapping(self, value, where, path) -> dict:
        if not isinstance(value, dict):
            self.fail(where, path, f"must be a table of keys; got {value!r}.")
        return value

    def keys(self, table: dict, allowed, where, path) -> None:
        for key in table:
            if key not in allowed:
                self.fail(
                    where, (*path, key), f"unknown key {key!r}; allowed keys: {', '.join(allowed)}."
                )

    def path(self, value, where, path) -> str:
        if not isinstance(value, str) or not value:
            self.fail(where, path, f"path must be a non-empty string; got {value!r}.")
        return os.path.normpath(os.path.join(self.base, os.path.expanduser(value)))

    def confined(self, value, where, path) -> str:
        """An output path of the file, checked to stay inside the run folder.

        A pipeline file is data, not authority: it may write only under the folder named
        on the command line (``--dir``, by default the file's own folder). Absolute
        paths, ``~``, ``..`` and paths that leave the folder through a symbolic link
        are refused, before anything is computed.
        """
        if not isinstance(value, str) or not value:
            self.fail(where, path, f"path must be a non-empty string; got {value!r}.")
        rule = (
            f"outputs must stay inside the run folder {self.root} (--dir, by default the "
            "pipeline file's folder): use a relative path such as 'out/result.zarr'"
        )
        if "\0" in value:
            self.fail(where, path, f"path {value!r} holds a NUL character.")
        if os.path.isabs(value) or value.startswith("~") or os.path.splitdrive(value)[0]:
            self.fail(where, path, f"path {value!r} is absolute or starts with ~; {rule}.")
        if ".." in re.split(r"[\\/]", value):
            self.fail(where, path, f"path {value!r} climbs out with '..'; {rule}.")
        full = os.path.normpath(os.path.join(self.base, value))
        real = os.path.realpath(full)
        if os.path.commonpath([real, self.root]) != self.root or real == self.root:
            how = "is the run folder itself" if real == self.root else f"leads to {real}"
            self.fail(where, path, f"path {value!r} {how} (symbolic links resolved); {rule}.")
        self.check_writable(real, where, path)
        return real

    def check_writable(self, real: str, where, path) -> None:
        """The output's folder exists and is writable, or can be created in one that is."""
        folder = os.path.dirname(real)
        while not os.path.lexists(folder):
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder):
            self.fail(where, path, f"cannot write {real}: {folder} is a file, not a folder.")
        if not os.access(folder, os.W_OK | os.X_OK):
            self.fail(where, path, f"cannot write {real}: the folder {folder} is not writable.")

    def new_output(self, value, where, path) -> str:
        full = self.confined(value, where, path)
        if full in self.written:
            self.fail(where, path, f"{full} is also written by {self.written[full]}.")
        if os.path.lexists(full) and not self.overwrite:
            self.fail(
                where,
                path,
                f"{full} already exists; pass --overwrite to replace it "
                "(only once the whole run has succeeded).",
            )
        self.written[full] = where
        return full


def load_pipeline(file: str, *, base: str | None = None, overwrite: bool = False) -> Pipeline:
    """Read and check a pipeline file; open its inputs lazily (headers only).

    Relative paths in the file are relative to ``base``, by default the file's folder;
    every output and table must stay inside it (see ``_Checker.confined``). Every
    problem is reported at once, in one :class:`PipelineError`.
    """
    data, locator = _read(file)
    base = os.path.abspath(base or os.path.dirname(os.path.abspath(file)))
    c = _Checker(file, base, locator, overwrite)
    data = c.mapping(data, "the file", ())
    c.keys(data, _TOP, "the file", ())
    pipe = Pipeline(os.path.abspath(file), base)
    raw_inputs = {}
    if "input" in data:
        raw_inputs["input"] = (
            c.mapping(data["input"], "[input]", ("input",)),
            ("input",),
            "[input]",
        )
    for name, spec in c.mapping(data.get("inputs", {}), "[inputs]", ("inputs",)).items():
        where = f"[inputs.{name}]"
        if name in raw_inputs:
            c.fail(where, ("inputs", name), f"input name {name!r} is used twice.")
        raw_inputs[name] = (c.mapping(spec, where, ("inputs", name)), ("inputs", name), where)
    if not raw_inputs:
        c.fail(
            "the file",
            (),
            "it has no [input] (or [inputs.NAME]) table: say which volume "
            "to read, e.g. [input] path = 'ct.zarr'.",
        )
    c.input_names = list(raw_inputs)
    for name, (spec, path, where) in raw_inputs.items():
        with c.collect():
            pipe.inputs[name] = _check_input(c, name, spec, path, where)
        if name not in pipe.inputs:
            c.broken.add(name)
    steps = data.get("steps", [])
    if not isinstance(steps, list):
        c.fail("steps", ("steps",), "must be an array of tables ([[steps]] headers).")
    c.step_names = [s.get("name") for s in steps if isinstance(s, dict)]
    for i, spec in enumerate(steps):
        count = len(pipe.steps)
        with c.collect():
            pipe.steps.append(_check_step(c, pipe, i, spec))
        name = spec.get("name") if isinstance(spec, dict) else None
        if len(pipe.steps) == count and isinstance(name, str):
            c.broken.add(name)
        c.last_step = name if isinstance(name, str) else c.last_step
    with c.collect():
        outputs = c.mapping(data.get("outputs", {}), "[outputs]", ("outputs",))
        for name, spec in outputs.items():
            with c.collect():
                pipe.outputs.append(_check_output(c, pipe, name, spec))
    tables = data.get("table", [])
    tables = [tables] if isinstance(tables, dict) else tables
    for i, spec in enumerate(tables if isinstance(tables, list) else [tables]):
        with c.collect():
            pipe.tables.append(_check_table(c, pipe, i, spec, len(tables) > 1))
    if c.problems:
        raise PipelineError.of(c.problems)
    if not pipe.outputs and not pipe.tables and not pipe.steps:
        c.fail("the file", (), "it has no [[steps]], [outputs] or [table]: nothing to do.")
    return pipe


def _names(pipe: Pipeline) -> list[str]:
    return [*pipe.inputs, *(s.name for s in pipe.steps)]


def _check_input(c: _Checker, name, spec, path, where) -> Input:
    if not _NAME.match(name):
        c.fail(where, path, f"input name {name!r} must be letters, digits and _.")
    c.keys(spec, (*_INPUT_KEYS, *_FRAME_KEYS), where, path)
    if "path" not in spec:
        c.fail(where, path, "needs path = '...' (the volume to read).")
    full = c.path(spec["path"], where, (*path, "path"))
    options = {k: spec[k] for k in _INPUT_KEYS[2:] if k in spec}
    if isinstance(options.get("chunks"), list):
        options["chunks"] = tuple(options["chunks"])
    try:
        fmt = detect_format(full, spec.get("format"))
        array = open_volume(full, fmt, **options)
    except (ValueError, TypeError, NotImplementedError, OSError) as exc:
        key = next((k for k in ("shape", "dtype", "format") if k in str(exc)), "path")
        c.fail(where, (*path, key if key in spec else "path"), str(exc))
    unit = _unit(c, spec.get("unit"), where, (*path, "unit"))
    try:
        frame = input_frame(array, fmt, full, options, spec.get("spacing"), unit)
    except ValueError as exc:
        c.fail(where, (*path, "spacing"), str(exc))
    return Input(name, full, fmt, options, where, array, frame)


def _unit(c: _Checker, value, where, path) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        c.fail(where, path, f"unit must be a name such as 'millimeter' or 'mm'; got {value!r}.")
    return unit_name(value)


def _check_step(c: _Checker, pipe: Pipeline, i: int, spec) -> Step:
    where = f"steps[{i}]"
    path = ("steps", i)
    spec = c.mapping(spec, where, path)
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        c.fail(
            where,
            (*path, "name"),
            f"every step needs name = '...' (letters, digits, _); got {name!r}.",
        )
    where = f"steps[{i}] {name!r}"
    if name in _names(pipe):
        c.fail(
            where,
            (*path, "name"),
            f"the name {name!r} is already used by an input or an earlier step.",
        )
    if "op" not in spec:
        c.fail(where, path, "needs op = '...' (e.g. 'ndimage.gaussian_filter').")
    try:
        op = resolve_op(spec["op"])
    except ValueError as exc:
        c.fail(where, (*path, "op"), str(exc))
    if "input" in spec:
        source = spec["input"]
    elif c.last_step is not None:
        source = c.last_step
    elif len(c.input_names) == 1:
        source = c.input_names[0]
    else:
        c.fail(
            where,
            path,
            f"needs input = '...': there are several inputs ({', '.join(pipe.inputs)}).",
        )
    params = {k: v for k, v in spec.items() if k not in ("name", "op", "input")}
    refs = [_ref(c, pipe, where, (*path, "input"), source, bare=True)]
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("@"):
            refs.append(_ref(c, pipe, where, (*path, key), value))
    try:
        op.bind(params)
    except TypeError as exc:
        c.fail(where, (*path, getattr(exc, "key", "op")), str(exc))
    return Step(i, name, op, refs[0], params, refs, where)


def _ref(c: _Checker, pipe: Pipeline, where, path, value, *, bare=False) -> str:
    """Check a reference (``"name"`` where a volume is expected, or ``"@name"``)."""
    if not isinstance(value, str):
        c.fail(where, path, f"must name an input or an earlier step; got {value!r}.")
    name = value[1:] if value.startswith("@") else value
    if name in _names(pipe) or name in c.broken:
        return name
    if name in c.step_names:
        c.fail(
            where,
            path,
            f"{name!r} is a later step; steps run in file order, so a step "
            "can only use inputs and the steps above it.",
        )
    known = ", ".join(_names(pipe))
    c.fail(
        where,
        path,
        f"{name!r} is not an input or an earlier step (steps run in file "
        f"order; known so far: {known}).",
    )


def _check_output(c: _Checker, pipe: Pipeline, name, spec) -> Output:
    where, path = f"outputs.{name}", ("outputs", name)
    if name not in _names(pipe) and name not in c.broken:
        c.fail(
            where,
            path,
            f"{name!r} is not an input or a step; outputs are keyed by the "
            f"name of what they store ({', '.join(_names(pipe))}).",
        )
    spec = {"path": spec} if isinstance(spec, str) else c.mapping(spec, where, path)
    c.keys(spec, (*_OUTPUT_KEYS, *_OME_KEYS, "labels"), where, path)
    if "path" not in spec:
        c.fail(where, path, "needs path = '...'.")
    full = c.new_output(spec["path"], where, path)
    try:
        fmt = output_format(full, spec.get("format"))
    except UsageError as exc:
        c.fail(where, path, str(exc))
    options = {k: spec[k] for k in _OUTPUT_KEYS[2:] if k in spec}
    if isinstance(options.get("chunks"), list):
        options["chunks"] = tuple(options["chunks"])
    ome = {_OME_KEYS[k]: spec[k] for k in _OME_KEYS if k in spec}
    labels = spec.get("labels", [])
    if (ome or labels) and fmt != "ome-zarr":
        keys = ", ".join([*ome, *(["labels"] if labels else [])])
        c.fail(
            where,
            path,
            f"{keys} apply to OME-Zarr outputs (path ending .ome.zarr or "
            f"format = 'ome-zarr'); this output is {fmt}.",
        )
    if isinstance(labels, str) or not isinstance(labels, list):
        c.fail(where, (*path, "labels"), f"labels must be a list of step names; got {labels!r}.")
    labels = [_ref(c, pipe, where, (*path, "labels"), n, bare=True) for n in labels]
    if ome:
        options["ome"] = {k: tuple(v) if isinstance(v, list) else v for k, v in ome.items()}
    return Output(name, full, fmt, options, labels, where)


def _check_table(c: _Checker, pipe: Pipeline, i: int, spec, many: bool) -> Table:
    from bigimg.measure import INTENSITY_PROPERTIES as _INTENSITY
    from bigimg.measure import PROPERTIES

    where, path = (f"table[{i}]", ("table", i)) if many else ("[table]", ("table",))
    spec = c.mapping(spec, where, path)
    c.keys(spec, _TABLE_KEYS, where, path)
    for key in ("labels", "path"):
        if key not in spec:
            c.fail(where, path, f"needs {key} = '...'.")
    labels = _ref(c, pipe, where, (*path, "labels"), spec["labels"], bare=True)
    intensity = spec.get("intensity")
    if intensity is not None:
        intensity = _ref(c, pipe, where, (*path, "intensity"), intensity, bare=True)
    props = spec.get("properties", ["label", "area", "centroid"])
    props = [props] if isinstance(props, str) else props
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        c.fail(where, (*path, "properties"), f"properties must be a list of names; got {props!r}.")
    for p in props:
        if p not in PROPERTIES:
            c.fail(
                where,
                (*path, "properties"),
                f"unknown property {p!r}; scikit-image names "
                f"such as {', '.join(sorted(PROPERTIES)[:8])}...",
            )
        if PROPERTIES[p] is object:
            c.fail(
                where,
                (*path, "properties"),
                f"property {p!r} holds an array per object, which a CSV/Parquet column cannot.",
            )
        if p in _INTENSITY and intensity is None:
            c.fail(
                where, (*path, "properties"), f"property {p!r} needs intensity = '<input or step>'."
            )
    full = c.new_output(spec["path"], where, (*path, "path"))
    try:
        fmt = table_format(full)
    except UsageError as exc:
        c.fail(where, (*path, "path"), str(exc))
    spacing = spec.get("spacing")
    if spacing is not None:
        try:
            spacing = check_spacing(spacing)
        except ValueError as exc:
            c.fail(where, (*path, "spacing"), str(exc))
    unit = _unit(c, spec.get("unit"), where, (*path, "unit"))
    return Table(labels, intensity, props, full, fmt, spacing, where, unit)
