"""The wheel carries templates/ and data/: build it, install it in a clean venv, use it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_renders_a_template(tmp_path):
    # Build from a copy: setuptools writes build/ and tryggkarta.egg-info/ next to the sources,
    # which would stay in the checkout (and the egg-info on PYTHONPATH makes pip believe the
    # package is installed already, so it skips the wheel).
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "bench", "docs", "node_modules",
            "instance", "__pycache__", ".pytest_cache", ".ruff_cache", "tests",
        ),
    )  # fmt: skip
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(source),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    wheel = next(dist.glob("tryggkarta-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [py, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    # Dependencies come from the test environment, appended after the clean venv's own
    # site-packages, so tryggkarta itself is the installed wheel, not this checkout.
    deps = sysconfig.get_paths()["purelib"]
    code = (
        f"import sys; sys.path.append({deps!r})\n"
        "import tryggkarta, tryggkarta.paths as p\n"
        "assert 'site-packages' in tryggkarta.__file__, tryggkarta.__file__\n"
        "assert (p.templates_dir() / 'base.html').is_file(), p.templates_dir()\n"
        "assert (p.data_dir() / 'demo' / 'incidents.geojson').is_file()\n"
        "from tryggkarta.web import create_app\n"
        f"app = create_app({{'database_url': 'sqlite://', 'instance_path': {str(tmp_path)!r}, 'TESTING': True}})\n"
        "with app.test_request_context('/'):\n"
        "    from flask import render_template\n"
        "    html = render_template('error.html', status=404, message='x', fallback='Sidan finns inte.')\n"
        "assert 'Sidan finns inte' in html and '<html' in html\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [py, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
    helped = subprocess.run(
        [
            py,
            "-c",
            f"import sys; sys.path.append({deps!r}); "
            "from tryggkarta.cli import main; main(['--help'])",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert "Usage:" in helped.stdout
