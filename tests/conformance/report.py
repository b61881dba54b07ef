"""Run scipy's ndimage tests through bigimg and tabulate the outcome per function.

``run(per_axis, json_path)`` runs one pytest session of the installed scipy's
``scipy.ndimage.tests`` with :mod:`tests.conformance.plugin` (in a subprocess, so the
patched scipy never leaks into the caller); ``table(records)`` gives, for every
bigimg function, the tests that call it, how many passed, failed (and xfailed, the
known failures) and the most common reasons. ``python -m tests.conformance`` runs
both chunkings and prints the table as markdown.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def command() -> list[str]:
    """The pytest command of one conformance session (the chunking is in the env)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "tests.conformance.plugin",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-q",
        "-n",
        "0",
        "--pyargs",
        "scipy.ndimage.tests",
    ]


def run(
    per_axis: int, json_path: str | os.PathLike, *, extra: list[str] = (), shard: str | None = None
) -> tuple:
    """Run the scipy suite with ``per_axis`` chunks per axis; (returncode, output, data).

    ``shard="i/n"`` runs only the tests whose id hashes to ``i`` modulo ``n``.
    """
    env = dict(os.environ)
    env.pop("BIGIMG_CONFORMANCE_SHARD", None)
    if shard:
        env["BIGIMG_CONFORMANCE_SHARD"] = shard
    env["BIGIMG_CONFORMANCE_CHUNKS"] = str(per_axis)
    env["BIGIMG_CONFORMANCE_REPORT"] = str(json_path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as cwd:  # outside the repo: scipy's conftest rules
        proc = subprocess.run(
            [*command(), *extra], cwd=cwd, env=env, capture_output=True, text=True
        )
    data = json.loads(Path(json_path).read_text()) if Path(json_path).exists() else None
    return proc.returncode, proc.stdout + proc.stderr, data


def table(records: list[dict]) -> dict[str, dict]:
    """Per bigimg function: tests calling it, passed, failed, xfailed, reasons."""
    out: dict[str, dict] = collections.defaultdict(
        lambda: {"tests": 0, "passed": 0, "failed": 0, "xfailed": 0, "why": collections.Counter()}
    )
    final: dict[str, dict] = {}
    for rec in records:  # a test's last failing report wins over its passing call
        prev = final.get(rec["nodeid"])
        if prev is None or rec["outcome"] != "passed":
            final[rec["nodeid"]] = rec
    for rec in final.values():
        for name in rec["called"]:
            row = out[name]
            row["tests"] += 1
            outcome = rec["outcome"]
            if outcome == "passed":
                row["passed"] += 1
            elif outcome == "xfailed":
                row["xfailed"] += 1
                row["why"][rec["why"]] += 1
            elif outcome == "failed":
                row["failed"] += 1
                row["why"][rec["why"]] += 1
    return dict(sorted(out.items()))


def totals(records: list[dict]) -> tuple[int, int]:
    """(tests calling a bigimg function, of which passed)."""
    rows = table([dict(r, called=["*"] if r["called"] else []) for r in records])
    row = rows.get("*", {"tests": 0, "passed": 0})
    return row["tests"], row["passed"]


def _label(n: int) -> str:
    return "1 chunk" if n == 1 else f"~{n} chunks per axis"


def markdown(tables: dict[int, dict[str, dict]]) -> str:
    """The per-function table of both runs (keyed by chunks per axis) as markdown.

    One row per bigimg function a test calls: the tests calling it, how many passed
    with each chunking, and what did not pass (failed, or known failures in
    parentheses) with the most common reason.
    """
    runs = sorted(tables)
    head = ["function", "tests calling it", *(f"passed, {_label(n)}" for n in runs)]
    lines = [
        "| " + " | ".join([*head, "failures and reason"]) + " |",
        "|---" * (len(head) + 1) + "|",
    ]
    for name in sorted(set().union(*tables.values())):
        rows = {n: tables[n].get(name) for n in runs}
        counts = sorted({r["tests"] for r in rows.values() if r is not None})
        cells = [f"`{name}`", " / ".join(str(c) for c in counts)]
        notes = []
        for n, r in rows.items():
            if r is None:
                cells.append("–")
                continue
            cells.append(str(r["passed"]))
            if r["failed"] or r["xfailed"]:
                why, count = r["why"].most_common(1)[0]
                what = f"{r['failed']} failed" if r["failed"] else ""
                if r["xfailed"]:
                    what += (", " if what else "") + f"{r['xfailed']} known"
                notes.append(f"{_label(n)}: {what} ({count}× {why.replace('|', '/')})")
        lines.append("| " + " | ".join([*cells, "; ".join(notes) or "–"]) + " |")
    return "\n".join(lines)


def reasons(tables: dict[int, dict[str, dict]], top: int = 3) -> str:
    """The most common failure reasons per function and run."""
    lines = []
    for n, rows in sorted(tables.items()):
        for name, r in rows.items():
            for why, count in r["why"].most_common(top):
                lines.append(f"- {n} per axis, `{name}` ({count}): {why}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Both runs; ``BIGIMG_CONFORMANCE_KEEP=dir`` keeps each run's JSON records there."""
    tables = {}
    status = 0
    keep = os.environ.get("BIGIMG_CONFORMANCE_KEEP")
    with tempfile.TemporaryDirectory() as tmp:
        for per_axis in (1, 3):
            target = Path(keep or tmp) / f"r{per_axis}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # never report an earlier run's records
            code, output, data = run(per_axis, target, extra=argv)
            status = status or code
            print(output.strip().splitlines()[-1] if output.strip() else "(no output)")
            if data is None:
                print(output)
                return code or 1
            tables[per_axis] = table(data["tests"])
            tests, passed = totals(data["tests"])
            rate = 100.0 * passed / tests if tests else 0.0
            print(
                f"{_label(per_axis)}: {passed} of {tests} tests calling bigimg passed ({rate:.2f} %)"
            )
    print(markdown(tables))
    print(reasons(tables))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
