"""Build hook: ship the top-level ``templates/`` and ``data/`` folders inside the wheel.

In a checkout they stay at the top of the repository (where designers and GIS staff find
them); an installed wheel finds them as ``tryggkarta/_templates`` and ``tryggkarta/_data``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
SHIPPED = {"templates": "_templates", "data": "_data"}


class BuildWithTopLevelFolders(build_py):
    def run(self) -> None:
        super().run()
        for source, target in SHIPPED.items():
            src = ROOT / source
            if not src.is_dir():
                continue
            dest = Path(self.build_lib) / "tryggkarta" / target
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithTopLevelFolders})
