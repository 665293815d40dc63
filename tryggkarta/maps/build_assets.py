"""Copy the front-end files XStatic lacks from npm into ``tryggkarta/static/vendor/``.

``python -m tryggkarta.maps.build_assets`` runs ``npm ci --ignore-scripts`` (exact versions
from ``package-lock.json``) in a temporary folder and copies only the needed dist files
(see :data:`tryggkarta.maps.assets.NPM_FILES`). Without npm it does nothing and says so:
the maps work without these optional files (no heat layer; the axe test is skipped).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tryggkarta.maps.assets import NPM_FILES, vendor_dir
from tryggkarta.paths import CHECKOUT


def copy_files(node_modules: Path, dest: Path) -> list[Path]:
    """Copy the files listed in ``NPM_FILES`` from ``node_modules`` to ``dest``."""
    written = []
    for package, files in NPM_FILES.items():
        for name, source in files.items():
            src = node_modules / source
            if not src.is_file():
                raise FileNotFoundError(f"{src} is missing after npm ci")
            target = dest / package / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            written.append(target)
    return written


def build(root: Path = CHECKOUT, dest: Path | None = None) -> int:
    dest = dest or vendor_dir()
    npm = shutil.which("npm")
    if npm is None:
        print(
            "build_assets: npm not found - skipping optional assets (leaflet.heat, axe-core, "
            "leaflet-geoman: drawing a project needs it); "
            "the map works without them."
        )
        return 0
    if not (root / "package-lock.json").is_file():
        print(f"build_assets: no package-lock.json in {root}; nothing to do.")
        return 0
    with tempfile.TemporaryDirectory(prefix="tk-assets-") as tmp:
        work = Path(tmp)
        shutil.copyfile(root / "package.json", work / "package.json")
        shutil.copyfile(root / "package-lock.json", work / "package-lock.json")
        cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        result = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            print(f"build_assets: npm ci failed:\n{result.stderr}", file=sys.stderr)
            return result.returncode
        written = copy_files(work / "node_modules", dest)
    for path in written:
        print(f"build_assets: {path.relative_to(dest.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(build())
