"""Run bigimg's benchmarks: ``python benchmarks/run.py [--all] [script args]``.

Without ``--all`` it runs ``bench_filters.py`` (the filter table in the README);
with ``--all`` every ``bench_*.py`` in this folder, one after the other, each in its
own process. Extra arguments go to ``bench_filters.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    if "--all" in argv:
        argv = [a for a in argv if a != "--all"]
        scripts = sorted(p for p in HERE.glob("bench_*.py") if p.name != "bench_larger_than_ram.py")
    else:
        scripts = [HERE / "bench_filters.py"]
    status = 0
    for script in scripts:
        print(f"\n##### {script.name}", flush=True)
        extra = argv if script.name == "bench_filters.py" else []
        status |= subprocess.run([sys.executable, str(script), *extra]).returncode
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
