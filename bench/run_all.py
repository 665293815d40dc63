"""Run every benchmark in bench/ and collect their markdown into bench/RESULTS.md.

Each ``bench/bench_*.py`` is a script that prints a markdown section (tables comparing
tryggkarta with the tool a user would otherwise use, measured in the same run).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, "
        f"numpy {np.__version__}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("only", nargs="*", help="run only these bench scripts (names without .py)")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only]
    sections = [
        f"# Benchmark results\n\nMachine: {machine()}.\n\nReproduce: `make bench` "
        "(or `python bench/run_all.py bench_store` for one script).\n"
    ]
    failed = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent
        )
        took = time.perf_counter() - started
        if proc.returncode != 0:
            failed += 1
            sections.append(
                f"## {script.stem}\n\nFAILED after {took:.0f} s:\n\n```\n{proc.stderr[-3000:]}\n```\n"
            )
            print(proc.stderr[-3000:], file=sys.stderr)
            continue
        sections.append(proc.stdout.strip() + f"\n\n_({script.name} ran in {took:.0f} s.)_\n")
        print(proc.stdout)
    args.out.write_text("\n".join(sections), encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
