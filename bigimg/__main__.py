"""Command line: ``bigimg demo`` (and ``python -m bigimg demo``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bigimg", description="scipy.ndimage for volumes larger than memory.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the example pipeline on a synthetic CT volume")
    demo.add_argument("--size", type=int, default=256,
                      help="edge length of the cubic uint16 volume (default 256)")
    demo.add_argument("--chunks", type=int, default=128, help="chunk edge (default 128)")
    demo.add_argument("--out", default="demo-output", help="output folder")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from bigimg._demo import run_demo

        try:
            run_demo(size=args.size, out=args.out, chunks=args.chunks,
                     progress=False if args.no_progress else True)
        except (ValueError, TypeError, OSError) as exc:
            print(f"bigimg demo: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
