"""``bigimg run``: a pipeline file is data, not authority.

Outputs, tables and temporary stores stay inside the run folder (``--dir``, by default
the file's folder) after symbolic links are resolved; refusals come before anything is
computed, all of them in one pass; a file cannot cost much before it is checked; the op
allow-list holds against injection; the rehearsal never rejects a pipeline for what a
crop holds; a run's outputs are committed all together or not at all.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

import bigimg
from bigimg._atomic import PARTIAL_TAG
from bigimg.cli import main
from bigimg.cli._ops import resolve_op

SHAPE = (20, 22, 24)

HEAD = """\
[input]
path = "v.raw"
shape = [20, 22, 24]
dtype = "uint16"
chunks = 10

[[steps]]
name = "smooth"
op = "ndimage.gaussian_filter"
sigma = 1.0
"""


@pytest.fixture
def vol():
    rng = np.random.default_rng(5)
    data = rng.integers(0, 1000, SHAPE).astype(np.uint16)
    data[5:15, 6:16, 7:17] += 2000
    return data


def _write(folder, vol, outputs, name="p.toml", head=HEAD):
    folder.mkdir(parents=True, exist_ok=True)
    vol.tofile(folder / "v.raw")
    (folder / name).write_text(head + "\n[outputs]\n" + outputs)
    return str(folder / name)


def _listing(folder) -> set:
    return {os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("{outside}/stolen.raw", "is absolute or starts with ~"),
        ("~/stolen.raw", "is absolute or starts with ~"),
        ("../stolen.raw", "climbs out with '..'"),
        ("out/../../stolen.raw", "climbs out with '..'"),
        ("link/stolen.raw", "(symbolic links resolved)"),
        ("linked.raw", "(symbolic links resolved)"),
        (".", "is the run folder itself"),
    ],
)
def test_outputs_outside_the_run_folder_are_refused_before_computing(
    tmp_path, vol, path, expected, monkeypatch, capsys
):
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("HOME", str(outside))  # were ~ expanded, it would stay in tmp_path
    (outside / "linked.raw").write_bytes(b"keep me")
    run = tmp_path / "run"
    run.mkdir()
    os.symlink(outside, run / "link")
    os.symlink(outside / "linked.raw", run / "linked.raw")
    text = f'smooth = {{ path = "{path.format(outside=outside)}", format = "raw" }}\n'
    file = _write(run, vol, text)
    before = _listing(tmp_path)
    for extra in ([], ["--overwrite"], ["--dry-run"]):
        assert main(["run", file, *extra]) == 2
        err = capsys.readouterr().err
        assert "outputs.smooth" in err and expected in err, err
        assert "outputs must stay inside the run folder" in err
    assert _listing(tmp_path) == before  # nothing written anywhere
    assert (outside / "linked.raw").read_bytes() == b"keep me"


def test_tables_are_confined_and_dir_names_the_run_folder(tmp_path, vol, capsys):
    text = HEAD + textwrap.dedent("""\
        [[steps]]
        name = "mask"
        op = "threshold"
        value = 1500

        [[steps]]
        name = "labels"
        op = "ndimage.label"

        [table]
        labels = "labels"
        path = "../objects.csv"
        """)
    (tmp_path / "run").mkdir()
    vol.tofile(tmp_path / "run" / "v.raw")
    (tmp_path / "p.toml").write_text(text)
    args = ["run", str(tmp_path / "p.toml"), "--dir", str(tmp_path / "run")]
    assert main(args) == 2
    assert "[table]" in capsys.readouterr().err
    (tmp_path / "p.toml").write_text(text.replace("../objects.csv", "objects.csv"))
    assert main([*args, "-q"]) == 0
    assert (tmp_path / "run" / "objects.csv").exists()
    assert not (tmp_path / "objects.csv").exists()


def test_dry_run_lists_every_path_and_every_problem(tmp_path, vol, capsys):
    outputs = 'smooth = "out/smooth.zarr"\ninput = { path = "copy.raw", format = "raw" }\n'
    file = _write(tmp_path, vol, outputs)
    assert main(["run", file, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"output smooth -> {tmp_path / 'out' / 'smooth.zarr'} (zarr)" in out
    assert f"output input -> {tmp_path / 'copy.raw'} (raw)" in out
    assert f"staging {tmp_path / 'out' / ('p' + PARTIAL_TAG)}<token>/" in out
    assert f"all inside the run folder {tmp_path}" in out
    assert not (tmp_path / "out").exists() and not (tmp_path / "copy.raw").exists()
    # every problem at once: an existing output, an escaping path, a bad op, a bad key
    (tmp_path / "copy.raw").write_bytes(b"old")
    bad = HEAD.replace("ndimage.gaussian_filter", "ndimage.gaussian_filtre") + textwrap.dedent("""\
        [[steps]]
        name = "edges"
        op = "ndimage.sobel"
        input = "smooth"
        axiss = 0

        [outputs]
        smooth = "/tmp/smooth.zarr"
        input = { path = "copy.raw", format = "raw" }
        edges = "edges.zarr"
        """)
    (tmp_path / "p.toml").write_text(bad)
    assert main(["run", file, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bigimg run: error: 4 problems:\n"), err
    for fragment in (
        "steps[0] 'smooth' (line 9): unknown op 'ndimage.gaussian_filtre'",
        "steps[1] 'edges'",
        "no parameter 'axiss'",
        "outputs.smooth",
        "is absolute",
        "outputs.input",
        "copy.raw already exists",
    ):
        assert fragment in err, (fragment, err)
    assert "edges.zarr" not in err  # the step's own problem, no cascade


def test_output_folder_that_cannot_be_written_is_found_before_computing(tmp_path, vol, capsys):
    file = _write(tmp_path, vol, 'smooth = "out/sub/smooth.zarr"\n')
    (tmp_path / "out").write_text("a file where a folder is needed")
    assert main(["run", file, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out'} is a file, not a folder" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_found_before_computing(tmp_path, vol, capsys):
    file = _write(tmp_path, vol, 'smooth = "ro/smooth.zarr"\n')
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        assert main(["run", file, "--dry-run"]) == 2
        assert "is not writable" in capsys.readouterr().err
    finally:
        os.chmod(tmp_path / "ro", 0o755)


def test_output_folders_are_created_before_the_first_step_computes(
    tmp_path, vol, monkeypatch, capsys
):
    import bigimg.cli._pipeline as pipeline_module

    steps = []
    real = pipeline_module._run_step
    monkeypatch.setattr(pipeline_module, "_run_step", lambda run, step: steps.append(step))

    def refuse(self, finals):
        raise bigimg.cli._common.UsageError(f"cannot write into {finals[0]}")

    file = _write(tmp_path, vol, 'smooth = "out/smooth.zarr"\n')
    monkeypatch.setattr(pipeline_module.Staging, "prepare", refuse)
    assert main(["run", file]) == 2
    assert "cannot write into" in capsys.readouterr().err
    assert steps == []  # no step ran
    monkeypatch.setattr(pipeline_module, "_run_step", real)


# --- cost of a file before it is checked --------------------------------------------


def test_yaml_alias_bomb_is_refused_before_validation(tmp_path, vol, capsys):
    pytest.importorskip("yaml")
    vol.tofile(tmp_path / "v.raw")
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for k in range(1, 7):
        lines.append(f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]")
    (tmp_path / "bomb.yaml").write_text(
        "\n".join(lines)
        + "\ninput: {path: v.raw, shape: [20, 22, 24], dtype: uint16}\n"
        + "steps:\n  - {name: s, op: ndimage.gaussian_filter, sigma: *a6}\n"
    )
    assert os.path.getsize(tmp_path / "bomb.yaml") < 600
    assert main(["run", str(tmp_path / "bomb.yaml"), "--dry-run"]) == 2
    assert "expands to more than 100,000 values" in capsys.readouterr().err


def test_oversized_and_deeply_nested_files_are_refused(tmp_path, capsys):
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 200_000)
    assert main(["run", str(big)]) == 2
    assert "is larger than 1,048,576 bytes" in capsys.readouterr().err
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert main(["run", str(deep)]) == 2
    err = capsys.readouterr().err
    assert "nests lists or tables too deeply" in err or "not valid TOML" in err


# --- the op allow-list --------------------------------------------------------------

INJECTIONS = [
    "os.system",
    "subprocess.run",
    "builtins.eval",
    "__import__('os').system",
    "eval",
    "exec",
    "ndimage.__class__",
    "ndimage.__builtins__",
    "ndimage.gaussian_filter.__globals__",
    "ndimage._filters",
    "ndimage.np",
    "stats.__dict__",
    "measure.__loader__",
    "bigimg.io.save_raw",
    "io.save_raw",
    "bigimg._atomic.commit",
    "bigimg.cli._outputs.write_volume",
    "numpy.load",
    "pickle.loads",
    "ndimage..gaussian_filter",
    "ndimage.gaussian_filter; rm -rf ~",
    "../ndimage.gaussian_filter",
    "scipy.ndimage._ni_support",
]


@pytest.mark.parametrize("op", INJECTIONS)
def test_op_allow_list_refuses_injection(op):
    with pytest.raises(ValueError, match=r"unknown op|op must be a name"):
        resolve_op(op)


def test_op_injection_through_a_file_is_refused(tmp_path, vol, capsys):
    file = _write(tmp_path, vol, "", head=HEAD.replace("ndimage.gaussian_filter", "os.system"))
    assert main(["run", file]) == 2
    assert "unknown op 'os.system'" in capsys.readouterr().err


# --- the rehearsal and the data in a crop --------------------------------------------


def test_rehearsal_does_not_reject_for_what_a_crop_holds(tmp_path, capsys):
    from skimage.filters import threshold_minimum

    rng = np.random.default_rng(2)
    data = (rng.normal(1000, 60, (40, 40, 40))).astype(np.uint16)
    data[20:, 20:, 20:] = rng.normal(3000, 60, (20, 20, 20)).astype(np.uint16)
    data[:16, :16, :16] = 1000  # a flat corner: no two histogram peaks on the crop
    data.tofile(tmp_path / "v.raw")
    head = textwrap.dedent("""\
        [input]
        path = "v.raw"
        shape = [40, 40, 40]
        dtype = "uint16"

        [[steps]]
        name = "mask"
        op = "threshold"
        value = "minimum"

        [outputs]
        mask = "mask.zarr"
        """)
    (tmp_path / "p.toml").write_text(head)
    assert main(["run", str(tmp_path / "p.toml"), "-q"]) == 0, capsys.readouterr().err
    np.testing.assert_array_equal(
        bigimg.open_zarr(tmp_path / "mask.zarr").compute(), data > threshold_minimum(data)
    )
    # a genuine mistake is still refused by the rehearsal
    (tmp_path / "p.toml").write_text(head.replace('value = "minimum"', 'value = "minimun"'))
    assert main(["run", str(tmp_path / "p.toml"), "--overwrite"]) == 2
    assert "threshold refused its arguments" in capsys.readouterr().err


# --- commit: all outputs or none ----------------------------------------------------


def _two_outputs(tmp_path, vol):
    return _write(tmp_path, vol, 'smooth = "out/a.zarr"\ninput = "out/b.tif"\n')


def test_an_output_appearing_during_the_run_commits_nothing(tmp_path, vol, monkeypatch, capsys):
    import bigimg.cli._pipeline as pipeline_module

    file = _two_outputs(tmp_path, vol)
    real = pipeline_module._write_output

    def write_then_intrude(run, out):
        real(run, out)
        if out.path.endswith("b.tif"):
            (tmp_path / "out" / "b.tif").write_bytes(b"someone else's")

    monkeypatch.setattr(pipeline_module, "_write_output", write_then_intrude)
    assert main(["run", file]) == 2
    err = capsys.readouterr().err
    assert "appeared during the run; nothing was moved into place" in err
    held = os.listdir(tmp_path / "out")
    assert "a.zarr" not in held  # not committed alone
    assert (tmp_path / "out" / "b.tif").read_bytes() == b"someone else's"
    (staging,) = [n for n in held if PARTIAL_TAG in n]
    assert {"a.zarr", "b.tif"} <= set(os.listdir(tmp_path / "out" / staging))  # kept


def test_a_failed_move_undoes_the_others_and_keeps_the_old_outputs(
    tmp_path, vol, monkeypatch, capsys
):
    file = _two_outputs(tmp_path, vol)
    assert main(["run", file, "-q"]) == 0
    old_a = bigimg.open_zarr(tmp_path / "out" / "a.zarr").compute()
    real = os.rename

    def rename(src, dst):  # moving the new b.tif into place fails
        if os.path.basename(src) == "b.tif" and PARTIAL_TAG in str(src):
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    (tmp_path / "p.toml").write_text(open(file).read().replace("sigma = 1.0", "sigma = 2.0"))
    assert main(["run", file, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "committing the outputs failed" in err and "none was moved into place" in err
    monkeypatch.undo()
    np.testing.assert_array_equal(bigimg.open_zarr(tmp_path / "out" / "a.zarr").compute(), old_a)
    np.testing.assert_array_equal(bigimg.open_tiff(tmp_path / "out" / "b.tif").compute(), vol)
    (staging,) = [n for n in os.listdir(tmp_path / "out") if PARTIAL_TAG in n]
    assert {"a.zarr", "b.tif"} <= set(os.listdir(tmp_path / "out" / staging))  # new ones kept
