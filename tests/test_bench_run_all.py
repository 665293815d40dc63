"""bench/run_all.py replaces only the sections it ran: a partial run once lost the others."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_all():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "bench" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_partial_run_keeps_the_other_sections() -> None:
    run_all = _run_all()
    old = run_all.merge(
        "",
        {"bench_exports": "## Exports\n\n| 1M | 12 s |", "bench_paths": "## Paths\n\nold load"},
        "# Benchmark results\n\nMachine: old.\n",
    )
    new = run_all.merge(
        old, {"bench_paths": "## Paths\n\nnew load"}, "# Benchmark results\n\nM2.\n"
    )
    sections, rest = run_all.read_sections(new)
    assert sections == {
        "bench_exports": "## Exports\n\n| 1M | 12 s |",
        "bench_paths": "## Paths\n\nnew load",
    }
    assert rest == "" and "Machine: old" not in new and "M2." in new
    assert new.index("bench:bench_exports") < new.index("bench:bench_paths")


def test_text_written_by_hand_outside_the_markers_is_kept() -> None:
    run_all = _run_all()
    old = "# Benchmark results\n\nMachine: x.\n\n## A note\n\nWritten by hand.\n"
    new = run_all.merge(old, {"bench_store": "## Store\n\nrows"}, "# Benchmark results\n")
    assert "Written by hand." in new and "## Store\n\nrows" in new


def test_the_committed_results_file_has_every_section_marked() -> None:
    run_all = _run_all()
    text = (ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    sections, rest = run_all.read_sections(text)
    assert {"bench_analysis", "bench_maps", "bench_paths"} <= set(sections)
    assert rest == ""
