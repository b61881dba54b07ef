"""The ``bigimg`` entry point: help, exit codes, ``demo``, ``ops``, scheduler options."""

from __future__ import annotations

import os
import subprocess
import sys

import dask
import pytest

import bigimg
from bigimg.cli import main
from bigimg.cli._common import UsageError, parse_bytes, parse_chunks, parse_ints
from bigimg.cli._ops import all_ops, resolve_op
from bigimg.cli._scheduler import check_scheduler, use_scheduler


def test_python_m_bigimg_help():
    result = subprocess.run(
        [sys.executable, "-m", "bigimg", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for command in ("info", "convert", "view", "run", "ops", "demo"):
        assert command in result.stdout


def test_entry_point_is_the_cli_main():
    import bigimg.__main__

    assert bigimg.__main__.main is main


def test_exit_codes_of_the_parser(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"bigimg {bigimg.__version__}\n"
    assert main(["run", "--help"]) == 0
    assert "--scheduler" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["info"]) == 2  # argparse: the path is missing
    assert "required: path" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2


def test_traceback_option_shows_the_exception(tmp_path):
    assert main(["info", str(tmp_path / "missing.zarr")]) == 2
    with pytest.raises(FileNotFoundError):
        main(["--traceback", "info", str(tmp_path / "missing.zarr")])


def test_demo_runs_through_the_cli(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--size", "16", "--chunks", "8", "--out", str(out), "--no-progress"]) == 0
    assert "bone objects" in capsys.readouterr().out
    assert {"ct.raw", "smoothed.zarr", "bone_labels.zarr", "bone_objects.csv"} <= set(
        os.listdir(out)
    )
    assert main(["demo", "--size", "4", "--out", str(out)]) == 2
    assert "`size` must be at least 8" in capsys.readouterr().err


def test_ops_lists_only_allowed_namespaces(capsys):
    assert main(["ops", "gaussian"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "ndimage.gaussian_filter" in listed and "restoration.unsharp_mask" not in listed
    names = all_ops()
    assert {
        "threshold",
        "compare",
        "astype",
        "mask",
        "ndimage.label",
        "stats.threshold_otsu",
        "measure.remove_small_objects",
    } <= set(names)
    assert all(
        n.split(".")[0] in ("ndimage", "stats", "measure", "restoration") for n in names if "." in n
    )
    for name in names:
        assert resolve_op(name).func is not None


@pytest.mark.parametrize(
    "text",
    [
        "os.system",
        "numpy.load",
        "ndimage.__class__",
        "eval",
        "ndimage._filters",
        "measure.PROPERTIES",
        "..",
        "",
    ],
)
def test_resolve_op_refuses_everything_else(text):
    with pytest.raises(ValueError, match="op"):
        resolve_op(text)


def test_resolve_op_aliases():
    assert resolve_op("scipy.ndimage.median_filter").name == "ndimage.median_filter"
    assert resolve_op("bigimg.stats.threshold_li").name == "stats.threshold_li"
    assert resolve_op("label").name == "ndimage.label"
    assert resolve_op("threshold").elementwise and not resolve_op("label").elementwise


def test_option_parsers():
    assert parse_ints("512x512, 64", "--shape") == (512, 512, 64)
    assert parse_chunks("64") == 64 and parse_chunks("8,16,16") == (8, 16, 16)
    assert parse_chunks("auto") == "auto"
    assert parse_bytes("2GiB") == 2 * 2**30 and parse_bytes("500MB") == 500 * 10**6
    for bad in ("", "2 GiBs", "-1", "0"):
        with pytest.raises(UsageError, match="--memory-limit"):
            parse_bytes(bad)


def test_scheduler_kinds():
    assert check_scheduler("threads", 3, None) == "threads"
    assert check_scheduler("tcp://10.0.0.5:8786", None, None) == "address"
    assert check_scheduler("10.0.0.5:8786", None, None) == "address"
    assert check_scheduler("processes", 2, "1GiB") == "processes"
    with pytest.raises(UsageError, match="--workers"):
        check_scheduler("tcp://10.0.0.5:8786", 2, None)
    with use_scheduler("threads", 3):
        assert dask.config.get("scheduler") == "threads"
        assert dask.config.get("num_workers") == 3
    with use_scheduler("synchronous"):
        assert dask.config.get("scheduler") == "synchronous"
