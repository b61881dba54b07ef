"""``bigimg run``: end to end against scipy/scikit-image, bad files, interruptions, schedulers."""

from __future__ import annotations

import csv
import importlib.util
import os
import textwrap

import numpy as np
import pytest
from scipy import ndimage as ndi

import bigimg
from bigimg._atomic import PARTIAL_TAG
from bigimg.cli import main
from bigimg.testing import ct_phantom

SHAPE = (30, 32, 34)
PROPS = ["label", "area", "centroid", "bbox", "intensity_mean", "intensity_max"]

PIPELINE = """\
[input]
path = "ct.raw"
shape = [30, 32, 34]
dtype = "uint16"
chunks = [12, 16, 17]

[[steps]]
name = "denoised"
op = "ndimage.median_filter"
size = 3

[[steps]]
name = "smooth"
op = "scipy.ndimage.gaussian_filter"
input = "denoised"
sigma = 1.0
output = "float32"

[[steps]]
name = "bone"
op = "threshold"
value = 1400

[[steps]]
name = "labels"
op = "ndimage.label"
input = "bone"
structure = [[[0, 0, 0], [0, 1, 0], [0, 0, 0]],
             [[0, 1, 0], [1, 1, 1], [0, 1, 0]],
             [[0, 0, 0], [0, 1, 0], [0, 0, 0]]]

[[steps]]
name = "otsu"
op = "stats.threshold_otsu"
input = "input"

[[steps]]
name = "tissue"
op = "threshold"
input = "input"
value = "@otsu"

[outputs]
smooth = "out/smooth.zarr"
labels = { path = "out/labels.zarr", format = "zarr", chunks = [11, 32, 34] }
tissue = "out/tissue.tif"

[table]
labels = "labels"
intensity = "input"
properties = ["label", "area", "centroid", "bbox", "intensity_mean", "intensity_max"]
path = "out/objects.csv"
"""


@pytest.fixture(scope="module")
def ct():
    return ct_phantom(SHAPE, seed=1)


@pytest.fixture(scope="module")
def reference(ct):
    from skimage.filters import threshold_otsu
    from skimage.measure import regionprops_table

    smooth = ndi.gaussian_filter(ndi.median_filter(ct, size=3), 1.0, output=np.float32)
    labels, n = ndi.label(smooth > 1400)
    table = regionprops_table(labels, intensity_image=ct, properties=PROPS)
    return {
        "smooth": smooth,
        "labels": labels,
        "n": n,
        "table": table,
        "tissue": ct > threshold_otsu(ct),
    }


def _setup(tmp_path, ct, text=PIPELINE, name="p.toml"):
    ct.tofile(tmp_path / "ct.raw")
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def _read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return {k: np.array([float(r[i]) for r in rows[1:]]) for i, k in enumerate(rows[0])}


def _check_outputs(out, reference, tissue=True):
    smooth = bigimg.open_zarr(out / "smooth.zarr").compute()
    np.testing.assert_allclose(smooth, reference["smooth"], rtol=1e-5, atol=1e-3)
    labels = bigimg.open_zarr(out / "labels.zarr")
    assert labels.chunksize == (11, 32, 34)
    np.testing.assert_array_equal(labels.compute(), reference["labels"])
    if tissue:
        np.testing.assert_array_equal(
            bigimg.open_tiff(out / "tissue.tif").compute(), reference["tissue"]
        )
    table = _read_csv(out / "objects.csv")
    assert list(table) == list(reference["table"])
    assert len(table["label"]) == reference["n"] > 3
    for key, want in reference["table"].items():
        np.testing.assert_allclose(table[key], want, rtol=1e-12, err_msg=key)


def test_run_matches_scipy_and_skimage(tmp_path, ct, reference, capsys):
    assert main(["run", _setup(tmp_path, ct), "--no-progress"]) == 0
    log = capsys.readouterr().out
    assert f"objects = {reference['n']}" in log
    assert "otsu = stats.threshold_otsu" in log
    _check_outputs(tmp_path / "out", reference)
    assert not [n for n in os.listdir(tmp_path / "out") if PARTIAL_TAG in n]
    # a second run refuses to replace the outputs, and replaces them with --overwrite
    assert main(["run", str(tmp_path / "p.toml")]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "p.toml"), "--overwrite", "-q"]) == 0
    assert capsys.readouterr().out == ""
    _check_outputs(tmp_path / "out", reference)


def test_yaml_pipeline_and_dir_option(tmp_path, ct, reference, capsys):
    pytest.importorskip("yaml")
    head = textwrap.dedent("""\
        input: {path: ct.raw, shape: [30, 32, 34], dtype: uint16, chunks: 12}
        steps:
          - name: denoised
            op: ndimage.median_filter
            size: 3
          - {name: smooth, op: ndimage.gaussian_filter, sigma: 1.0, output: float32}
        """)
    bone = '  - {name: bone, op: compare, input: smooth, operator: ">", value: 1400}\n'
    labels = "  - name: labels\n    op: ndimage.label\n    input: '@bone'\n"
    outputs = "outputs:\n  labels: out/labels.zarr\n"
    data = tmp_path / "data"
    data.mkdir()
    ct.tofile(data / "ct.raw")
    args = ["run", str(tmp_path / "p.yaml"), "--dir", str(data), "-q"]
    # a step that uses a later one: exit 2, naming the step and the YAML line
    (tmp_path / "p.yaml").write_text(head + labels + bone + outputs)
    assert main(args) == 2
    assert "steps[2] 'labels' (line 9): 'bone' is a later step" in capsys.readouterr().err
    (tmp_path / "p.yaml").write_text(head + bone + labels + outputs)
    assert main(args) == 0
    labels = bigimg.open_zarr(data / "out" / "labels.zarr").compute()
    np.testing.assert_array_equal(labels, reference["labels"])
    assert not (tmp_path / "out").exists()


def test_yaml_errors_name_the_line(tmp_path, ct, capsys):
    pytest.importorskip("yaml")
    ct.tofile(tmp_path / "ct.raw")
    (tmp_path / "p.yml").write_text(
        "input: {path: ct.raw, shape: [30, 32, 34], dtype: uint16}\n"
        "steps:\n"
        "  - name: a\n"
        "    op: ndimage.gaussian_filter\n"
        "    sigma: 1\n"
        "    sigmaa: 2\n"
    )
    assert main(["run", str(tmp_path / "p.yml")]) == 2
    err = capsys.readouterr().err
    assert "p.yml: steps[0] 'a' (line 6)" in err and "no parameter 'sigmaa'" in err


def _variant(old: str, new: str) -> str:
    assert old in PIPELINE, old
    return PIPELINE.replace(old, new, 1)


def _line(text: str, fragment: str) -> str:
    """``(line N)`` for the first line of ``text`` holding ``fragment``."""
    number = next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)
    return f"(line {number})"


def _case(old, new, *expected, line_of=None):
    text = _variant(old, new)
    return text, [*expected, *([_line(text, line_of)] if line_of else [])]


BAD = {
    "unknown op": _case(
        'op = "ndimage.median_filter"',
        'op = "ndimage.median_filer"',
        "steps[0] 'denoised'",
        "unknown op 'ndimage.median_filer'",
        "Did you mean ndimage.median_filter",
        line_of="median_filer",
    ),
    "arbitrary import": _case(
        'op = "ndimage.median_filter"',
        'op = "os.system"',
        "unknown op 'os.system'",
        line_of="os.system",
    ),
    "unknown parameter": _case(
        "sigma = 1.0",
        "sigma = 1.0\nsigmaa = 2",
        "steps[1] 'smooth'",
        "no parameter 'sigmaa' (did you mean 'sigma'?)",
        line_of="sigmaa",
    ),
    "missing parameter": _case(
        "sigma = 1.0\n", "", "steps[1] 'smooth'", "needs the parameter 'sigma'"
    ),
    "missing input": _case(
        'input = "denoised"',
        'input = "denoise"',
        "steps[1] 'smooth'",
        "'denoise' is not an input or an earlier step",
        line_of='input = "denoise"',
    ),
    "later step": _case(
        'input = "bone"',
        'input = "tissue"',
        "steps[3] 'labels'",
        "'tissue' is a later step",
        line_of='input = "tissue"',
    ),
    "duplicate name": _case('name = "tissue"', 'name = "otsu"', "steps[5] 'otsu'", "already used"),
    "bad value": _case(
        "size = 3",
        'size = 3\nmode = "reflekt"',
        "steps[0] 'denoised'",
        "ndimage.median_filter refused its arguments",
    ),
    "value as output": _case(
        'tissue = "out/tissue.tif"',
        'otsu = "out/otsu.zarr"',
        "outputs.otsu",
        "is a value, not a volume",
    ),
    "unknown output": _case(
        'tissue = "out/tissue.tif"',
        'tisue = "out/tissue.tif"',
        "outputs.tisue",
        "'tisue' is not an input or a step",
        line_of="tisue",
    ),
    "output suffix": _case(
        '"out/tissue.tif"', '"out/tissue.png"', "outputs.tissue", "cannot tell which format"
    ),
    "same output twice": _case(
        '"out/tissue.tif"', '"out/smooth.zarr"', "also written by outputs.smooth"
    ),
    "float labels in table": _case(
        'labels = "labels"\n', 'labels = "smooth"\n', "[table]", "regionprops_table refused"
    ),
    "unknown property": _case(
        '"intensity_max"]',
        '"intensity_maxx"]',
        "[table]",
        "unknown property 'intensity_maxx'",
        line_of="intensity_maxx",
    ),
    "intensity property without intensity": _case(
        'intensity = "input"\n', "", "'intensity_mean' needs intensity"
    ),
    "table suffix": _case("objects.csv", "objects.xlsx", "must end in .csv"),
    "raw size": _case(
        "shape = [30, 32, 34]",
        "shape = [30, 32, 35]",
        "[input]",
        "holds 65,280 bytes",
        "check shape, dtype",
        line_of="shape =",
    ),
    "input renamed": _case(
        "[input]", "[inputs.ct]", "steps[4] 'otsu'", "'input' is not an input or an earlier step"
    ),
    "unknown key": _case("[input]", "[inptu]\nx = 1\n[input]", "unknown key 'inptu'"),
    "bad toml": _case("size = 3", "size = = 3", "not valid TOML", "line 10"),
    "ambiguous bare op": _case(
        'op = "stats.threshold_otsu"',
        'op = "histogram"',
        "ambiguous",
        "ndimage.histogram",
        "stats.histogram",
    ),
    "first parameter given": _case(
        'op = "stats.threshold_otsu"',
        'op = "stats.threshold_otsu"\nimage = "@smooth"',
        "parameter 'image' of stats.threshold_otsu is the step's input",
        line_of='image = "@smooth"',
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_pipeline_files_exit_2_before_computing(case, tmp_path, ct, capsys):
    text, expected = BAD[case]
    path = _setup(tmp_path, ct, text)
    assert main(["run", path]) == 2
    err = capsys.readouterr().err
    one = err.startswith("bigimg run: error: p.toml") and err.count("\n") == 1
    several = err.startswith("bigimg run: error: ") and " problems:\n  p.toml" in err
    assert one or several, err  # several: every problem, one per line
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


def test_existing_output_is_refused_before_computing(tmp_path, ct, capsys):
    path = _setup(tmp_path, ct)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "objects.csv").write_text("keep me")
    assert main(["run", path]) == 2
    err = capsys.readouterr().err
    assert f"[table] {_line(PIPELINE, 'objects.csv')}" in err and "already exists" in err
    assert (tmp_path / "out" / "objects.csv").read_text() == "keep me"
    assert sorted(os.listdir(tmp_path / "out")) == ["objects.csv"]


def test_interrupted_run_leaves_nothing_and_reruns(tmp_path, ct, reference, monkeypatch, capsys):
    path = _setup(tmp_path, ct)
    real_label = bigimg.ndimage.label

    def interrupted(input, *args, **kwargs):
        if input.shape == SHAPE:  # the real volume, not the rehearsal's crop
            raise KeyboardInterrupt
        return real_label(input, *args, **kwargs)

    monkeypatch.setattr(bigimg.ndimage, "label", interrupted)
    assert main(["run", path]) == 130
    captured = capsys.readouterr()
    assert "store  smooth" in captured.out  # one output had been written (staged) already
    assert "interrupted" in captured.err
    assert os.listdir(tmp_path / "out") == []  # nothing complete-looking, no leftovers
    monkeypatch.setattr(bigimg.ndimage, "label", real_label)
    assert main(["run", path]) == 0
    _check_outputs(tmp_path / "out", reference)


def test_failure_while_writing_the_table_commits_nothing(
    tmp_path, ct, reference, monkeypatch, capsys
):
    import bigimg.cli._pipeline as pipeline_module

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    path = _setup(tmp_path, ct)
    monkeypatch.setattr(pipeline_module, "write_table", disk_full)
    assert main(["run", path]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert os.listdir(tmp_path / "out") == []
    monkeypatch.undo()
    assert main(["run", path]) == 0
    _check_outputs(tmp_path / "out", reference)


def test_leftover_of_a_killed_run_is_ignored(tmp_path, ct, capsys):
    path = _setup(tmp_path, ct)
    stale = tmp_path / "out" / f"p{PARTIAL_TAG}0123456789"
    (stale / "smooth.zarr").mkdir(parents=True)
    assert main(["run", path]) == 0
    assert f"ignoring {stale}" in capsys.readouterr().out
    assert stale.exists()
    assert main(["info", str(stale)]) == 2  # readers refuse the partial folder's name
    assert "incomplete" in capsys.readouterr().err


def test_storage_plan(tmp_path, ct):
    from bigimg.cli._pipeline import plan_storage, rehearse
    from bigimg.cli._spec import load_pipeline

    pipe = load_pipeline(_setup(tmp_path, ct))
    reh = rehearse(pipe)
    assert reh.eager == {
        "input": False,
        "denoised": False,
        "smooth": False,
        "bone": False,
        "labels": True,
        "otsu": True,
        "tissue": False,
    }
    assert reh.kinds["otsu"] == "value"
    # smooth feeds an output and a step; labels an output and the table; bone is cheap
    assert plan_storage(pipe, reh) == {"smooth": "output", "labels": "output"}
    text = PIPELINE.replace('smooth = "out/smooth.zarr"\n', "")
    pipe = load_pipeline(_setup(tmp_path, ct, text, "q.toml"))
    # without the smooth output, storing the (smaller) mask avoids recomputing smooth
    assert plan_storage(pipe, rehearse(pipe)) == {"bone": "scratch", "labels": "output"}


def test_temporary_store_is_removed(tmp_path, ct, reference):
    text = PIPELINE.replace('smooth = "out/smooth.zarr"\n', "").replace(
        "value = 1400", 'value = "otsu"'
    )
    path = _setup(tmp_path, ct, text)
    assert main(["run", path, "-q"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["labels.zarr", "objects.csv", "tissue.tif"]
    from skimage.filters import threshold_otsu

    bone = reference["smooth"] > threshold_otsu(reference["smooth"])
    np.testing.assert_array_equal(
        bigimg.open_zarr(tmp_path / "out" / "labels.zarr").compute(), ndi.label(bone)[0]
    )


def test_dry_run_computes_nothing_outside_the_rehearsal(tmp_path, ct, capsys):
    path = _setup(tmp_path, ct)
    assert main(["run", path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "smooth = ndimage.gaussian_filter(denoised), stored as its output" in out
    assert not (tmp_path / "out").exists()


def test_several_inputs_and_pipeline_ops(tmp_path, ct):
    roi = np.zeros(SHAPE, bool)
    roi[5:20, 3:30, 10:] = True
    ct.tofile(tmp_path / "ct.raw")
    bigimg.save_zarr(roi, tmp_path / "roi.zarr", progress=False)
    (tmp_path / "p.toml").write_text(
        textwrap.dedent("""\
        [inputs.ct]
        path = "ct.raw"
        shape = [30, 32, 34]
        dtype = "uint16"
        [inputs.roi]
        path = "roi.zarr"

        [[steps]]
        name = "inside"
        op = "mask"
        input = "ct"
        mask = "@roi"
        value = 7
        [[steps]]
        name = "wide"
        op = "astype"
        dtype = "int32"
        [[steps]]
        name = "dark"
        op = "compare"
        input = "ct"
        operator = "<"
        value = "@wide"
        [[steps]]
        name = "top"
        op = "threshold"
        input = "ct"
        value = "otsu"
        invert = true

        [outputs]
        wide = "wide.zarr"
        dark = "dark.zarr"
        top = "top.raw"
        """)
    )
    assert main(["run", str(tmp_path / "p.toml"), "-q"]) == 0
    from skimage.filters import threshold_otsu

    wide = np.where(roi, ct, 7).astype(np.int32)
    np.testing.assert_array_equal(bigimg.open_zarr(tmp_path / "wide.zarr").compute(), wide)
    np.testing.assert_array_equal(bigimg.open_zarr(tmp_path / "dark.zarr").compute(), ct < wide)
    top = bigimg.open_raw(tmp_path / "top.raw", SHAPE, bool).compute()
    np.testing.assert_array_equal(top, ct <= threshold_otsu(ct))


def test_parquet_table(tmp_path, ct, reference, capsys):
    path = _setup(tmp_path, ct, PIPELINE.replace("objects.csv", "objects.parquet"))
    if importlib.util.find_spec("pyarrow") is None:
        assert main(["run", path]) == 2
        assert "needs pyarrow (pip install pyarrow)" in capsys.readouterr().err
        return
    assert main(["run", path, "-q"]) == 0
    import pandas as pd

    table = pd.read_parquet(tmp_path / "out" / "objects.parquet")
    for key, want in reference["table"].items():
        np.testing.assert_allclose(table[key].to_numpy(), want, rtol=1e-12, err_msg=key)


def test_ome_zarr_output_with_label_image(tmp_path, ct, reference):
    text = PIPELINE.replace(
        'tissue = "out/tissue.tif"',
        'input = { path = "out/ct.ome.zarr", '
        'labels = ["labels"], scale = [2.0, 0.5, 0.5], levels = 2 }',
    )
    assert main(["run", _setup(tmp_path, ct, text), "-q"]) == 0
    path = tmp_path / "out" / "ct.ome.zarr"
    np.testing.assert_array_equal(bigimg.open_zarr(path).compute(), ct)
    np.testing.assert_array_equal(
        bigimg.open_zarr(path, component="labels/labels").compute(), reference["labels"]
    )
    _check_outputs(tmp_path / "out", reference, tissue=False)


@pytest.mark.slow
def test_processes_scheduler(tmp_path, ct, capsys):
    pytest.importorskip("distributed")
    text = PIPELINE.split("[[steps]]")[0] + textwrap.dedent("""\
        [[steps]]
        name = "bone"
        op = "compare"
        operator = ">="
        value = 1700

        [[steps]]
        name = "labels"
        op = "ndimage.label"

        [outputs]
        labels = "out/labels.zarr"
        """)
    path = _setup(tmp_path, ct, text)
    assert (
        main(["run", path, "--scheduler", "processes", "--workers", "2", "--memory-limit", "1GiB"])
        == 0
    )
    out = capsys.readouterr().out
    assert "scheduler: 2 local worker processes, 1GiB each" in out
    want, n = ndi.label(ct >= 1700)
    assert f"objects = {n}" in out and n > 3
    np.testing.assert_array_equal(
        bigimg.open_zarr(tmp_path / "out" / "labels.zarr").compute(), want
    )


@pytest.mark.parametrize(
    "options, message",
    [
        (["--scheduler", "gpu"], "--scheduler must be"),
        (["--memory-limit", "2GiB"], "--memory-limit applies to --scheduler processes"),
        (["--scheduler", "processes", "--memory-limit", "lots"], "--memory-limit must be a size"),
        (["--scheduler", "synchronous", "--workers", "2"], "--workers must be"),
    ],
)
def test_bad_scheduler_options(tmp_path, ct, options, message, capsys):
    assert main(["run", _setup(tmp_path, ct), *options]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- bigimg run --resume ----------------------------------------------------------------


def _fail_second_labels_block(monkeypatch):
    """Make the run's writer fail on the second block of out/labels.zarr (once)."""
    from bigimg.io import _blocks

    real, seen = _blocks._write, []

    def write(block, target, region, records):
        path = records.location.path
        if "labels.zarr" in path and "rehearsal" not in path:
            seen.append(region)
            if len(seen) == 2:
                raise OSError("node lost while writing labels")
        return real(block, target, region, records)

    monkeypatch.setattr(_blocks, "_write", write)


def test_resume_continues_an_interrupted_run(tmp_path, ct, reference, monkeypatch, capsys):
    path = _setup(tmp_path, ct)
    _fail_second_labels_block(monkeypatch)
    assert main(["run", path, "--resume", "--scheduler", "synchronous"]) == 1
    assert "node lost while writing labels" in capsys.readouterr().err
    (staging,) = os.listdir(tmp_path / "out")  # kept: nothing at the output paths
    assert staging.startswith("p" + PARTIAL_TAG)
    held = sorted(os.listdir(tmp_path / "out" / staging))
    assert len(held) == 3 and held[0] == "bigimg-run.json" and held[2] == "smooth.zarr"
    assert held[1].startswith("labels.zarr" + PARTIAL_TAG)  # the partial labels store
    monkeypatch.undo()
    assert main(["run", path, "--resume"]) == 0
    log = capsys.readouterr().out
    assert "resuming the interrupted run" in log
    assert "smooth = ndimage.gaussian_filter: already stored by the interrupted run" in log
    assert "wrote 2 of 3 blocks (1 already written)" in log
    _check_outputs(tmp_path / "out", reference)  # the same as an uninterrupted run
    assert sorted(os.listdir(tmp_path / "out")) == [
        "labels.zarr",
        "objects.csv",
        "smooth.zarr",
        "tissue.tif",
    ]


def test_resume_refuses_another_pipeline(tmp_path, ct, reference, monkeypatch, capsys):
    path = _setup(tmp_path, ct)
    _fail_second_labels_block(monkeypatch)
    assert main(["run", path, "--resume", "--scheduler", "synchronous"]) == 1
    monkeypatch.undo()
    (staging,) = os.listdir(tmp_path / "out")
    kept = sorted(os.listdir(tmp_path / "out" / staging))
    (tmp_path / "p.toml").write_text(PIPELINE.replace("sigma = 1.0", "sigma = 1.5"))
    capsys.readouterr()
    assert main(["run", path, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "holds an interrupted run of pipeline" in err
    old, new = err.split("of pipeline ")[1].split(",")[0], err.split("is now pipeline ")[1][:16]
    assert old != new and len(old) == len(new) == 16  # names both
    assert sorted(os.listdir(tmp_path / "out" / staging)) == kept  # untouched
    (tmp_path / "p.toml").write_text(PIPELINE)  # the same pipeline again: resumes
    assert main(["run", path, "--resume", "-q"]) == 0
    _check_outputs(tmp_path / "out", reference)


def test_resume_without_an_interrupted_run_and_ctrl_c(tmp_path, ct, reference, monkeypatch, capsys):
    path = _setup(tmp_path, ct)
    real_label = bigimg.ndimage.label

    def interrupted(input, *args, **kwargs):
        if input.shape == SHAPE:
            raise KeyboardInterrupt
        return real_label(input, *args, **kwargs)

    monkeypatch.setattr(bigimg.ndimage, "label", interrupted)
    assert main(["run", path, "--resume"]) == 130
    assert "run the same command with --resume" in capsys.readouterr().err
    (staging,) = os.listdir(tmp_path / "out")
    assert "smooth.zarr" in os.listdir(tmp_path / "out" / staging)
    monkeypatch.undo()
    assert main(["run", path, "--resume"]) == 0
    assert "smooth = ndimage.gaussian_filter: already stored" in capsys.readouterr().out
    _check_outputs(tmp_path / "out", reference)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert main(["run", _setup(fresh, ct), "--resume", "-q"]) == 0  # nothing to resume
    _check_outputs(fresh / "out", reference)


def test_raw_input_with_a_footer_needs_allow_trailing(tmp_path, capsys):
    vol = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    (tmp_path / "v.raw").write_bytes(vol.tobytes() + b"FOOTER")
    text = """\
[input]
path = "v.raw"
shape = [4, 5, 6]
dtype = "uint16"
{extra}
[[steps]]
name = "smooth"
op = "ndimage.uniform_filter"
size = 3

[outputs]
smooth = "smooth.zarr"
"""
    (tmp_path / "p.toml").write_text(text.format(extra=""))
    assert main(["run", str(tmp_path / "p.toml"), "--no-progress"]) == 2
    assert "allow_trailing" in capsys.readouterr().err
    (tmp_path / "p.toml").write_text(text.format(extra="allow_trailing = true"))
    assert main(["run", str(tmp_path / "p.toml"), "--no-progress"]) == 0
    got = bigimg.open_zarr(tmp_path / "smooth.zarr").compute()
    np.testing.assert_array_equal(got, ndi.uniform_filter(vol, 3))
