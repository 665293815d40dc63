"""Run the benchmarks in bench/ and collect their markdown into bench/RESULTS.md.

Each ``bench/bench_*.py`` is a script that prints a markdown section (tables comparing
tryggkarta with the tool a user would otherwise use, measured in the same run).

Every script's section sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``
markers. A run of some scripts (``python bench/run_all.py bench_paths``) replaces only those
sections and keeps every other one as it was: a partial run once rewrote the whole file and
lost the sections it had not run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTION = re.compile(
    r"<!-- bench:(?P<name>[\w.-]+) -->\n(?P<body>.*?)\n<!-- /bench:(?P=name) -->", re.S
)


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


def read_sections(text: str) -> tuple[dict[str, str], str]:
    """The marked sections of an existing RESULTS.md (name → body) and any unmarked text
    after the header (kept, so nothing written by hand is lost)."""
    sections = {m["name"]: m["body"] for m in SECTION.finditer(text)}
    rest = SECTION.sub("", text)
    # the header is written anew each time: drop it from the unmarked rest
    rest = re.sub(r"\A# Benchmark results\n.*?(?=\n## |\Z)", "", rest, flags=re.S)
    return sections, rest.strip()


def merge(old: str, new: dict[str, str], header: str) -> str:
    """``old`` with the sections in ``new`` replaced (or added), the others kept, in name order."""
    sections, rest = read_sections(old)
    sections.update(new)
    parts = [header.strip() + "\n"]
    for name in sorted(sections):
        parts.append(f"<!-- bench:{name} -->\n{sections[name].strip()}\n<!-- /bench:{name} -->\n")
    if rest:
        parts.append(rest + "\n")
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("only", nargs="*", help="run only these bench scripts (names without .py)")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only]
    header = (
        f"# Benchmark results\n\nMachine: {machine()} (the last run; each section says when "
        "it ran).\n\nReproduce: `make bench` (or `python bench/run_all.py bench_store` for one "
        "script: it replaces that script's section only).\n"
    )
    new: dict[str, str] = {}
    failed = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent
        )
        took = time.perf_counter() - started
        when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        if proc.returncode != 0:
            failed += 1
            new[script.stem] = (
                f"## {script.stem}\n\nFAILED after {took:.0f} s ({when}):\n\n"
                f"```\n{proc.stderr[-3000:]}\n```"
            )
            print(proc.stderr[-3000:], file=sys.stderr)
            continue
        new[script.stem] = (
            proc.stdout.strip() + f"\n\n_({script.name} ran in {took:.0f} s, {when}.)_"
        )
        print(proc.stdout)
    old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    args.out.write_text(merge(old, new, header), encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
