"""`tryggkarta serve` and `make demo` on a busy port: one sentence saying what to do, before
any URL is printed, never a traceback. PORT=/HOST= choose the address."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tryggkarta.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        yield other.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_on_a_busy_port_says_what_to_do(runner, busy_port: int) -> None:
    result = runner.invoke(main, ["serve", "--port", str(busy_port)])
    assert result.exit_code == 2
    assert f"Port {busy_port} on 127.0.0.1 is already in use" in result.output
    assert f"PORT={busy_port + 1}" in result.output and f"--port {busy_port + 1}" in result.output
    assert "http://" not in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_serve_checks_the_address(runner) -> None:
    assert runner.invoke(main, ["serve", "--port", str(free_port()), "--check-only"]).exit_code == 0
    bad_host = runner.invoke(main, ["serve", "--host", "192.0.2.77", "--check-only"])
    assert bad_host.exit_code == 2 and "not an address of this machine" in bad_host.output
    out_of_range = runner.invoke(main, ["serve", "--port", "70000"])
    assert out_of_range.exit_code == 2 and "70000" in out_of_range.output
    env = runner.invoke(main, ["serve", "--check-only"], env={"TRYGGKARTA_PORT": "0"})
    assert env.exit_code == 2  # port 0 is not a port to tell people about


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_takes_port_and_host_and_checks_first(busy_port: int, tmp_path) -> None:
    plan = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "-o",
            "install",
            "demo",
            "PORT=5123",
            "HOST=0.0.0.0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert plan[0].endswith("tryggkarta serve --host 0.0.0.0 --port 5123 --check-only")
    assert any("http://0.0.0.0:5123/" in line for line in plan)
    assert plan[-1].endswith("tryggkarta serve --host 0.0.0.0 --port 5123")
    assert "5000" not in "\n".join(plan)
    # and for real, on a busy port: it stops at the check, before loading data or any URL
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tryggkarta"
    shim.write_text(
        f'#!/bin/sh\nexec {sys.executable} -c "from tryggkarta.cli import main; main()" "$@"\n',
        encoding="utf-8",
    )
    shim.chmod(0o755)
    run = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            "install",
            "demo",
            f"PORT={busy_port}",
            f"BIN={bin_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TRYGGKARTA_INSTANCE_PATH": str(tmp_path)},
    )
    assert run.returncode != 0
    assert f"Port {busy_port} on 127.0.0.1 is already in use" in run.stderr
    assert "http://" not in run.stdout and "Traceback" not in run.stderr + run.stdout
    assert not (tmp_path / "tryggkarta.db").exists()
