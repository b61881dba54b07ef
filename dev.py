#!/usr/bin/env python3
"""Set-up-included entry points: ``python3 dev.py demo`` and ``python3 dev.py test``.

Needs nothing but Python 3.11+. The first call creates ``.venv`` next to this file and
installs bigimg with its test extras into it; later calls reuse it (it is rebuilt when
``pyproject.toml`` changes). Every other argument is passed on:

    python3 dev.py demo --size 512        # the main job on a synthetic CT volume
    python3 dev.py test -k gaussian       # pytest arguments
    python3 dev.py bench                  # benchmarks/run.py
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".bigimg-installed"
EXTRAS = "test,bench,measure"


def _wanted_stamp() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest} {EXTRAS}"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"bigimg needs Python >= 3.11; this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _wanted_stamp():
        return
    print("installing bigimg and its dependencies into .venv ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[{EXTRAS}]"], check=True)
    STAMP.write_text(_wanted_stamp())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "bench"}:
        print(__doc__)
        return 2
    ensure_venv()
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        args = [str(PY), "-m", "bigimg", "demo", *rest]
    elif cmd == "test":
        # both cores by default; any pytest arguments replace the defaults
        args = [str(PY), "-m", "pytest", *(rest or ["-n", "2", "-q"])]
    else:
        args = [str(PY), str(ROOT / "benchmarks" / "run.py"), *rest]
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
