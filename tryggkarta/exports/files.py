"""Files of an export: atomic writes with the configured mode, temp files that say whose they are.

Every file appears under its final name complete or not at all: it is written to a temp file
in the same folder, flushed to disk (``fsync``), then renamed over the old one (``os.replace``,
atomic on POSIX within one file system), and the folder entry is flushed too. Temp files are
named ``.tryggkarta-tmp~<export>~<random>`` so that a run can find and remove the ones a
crashed run of the same export left behind, and no other export's. Files get the configured
mode (default 0644) whatever the process umask, so the web server or file share that
publishes the folder can read them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tryggkarta.errors import BadInput

TEMP_PREFIX = ".tryggkarta-tmp~"
#: Export names become file names: letters, digits, ``.``, ``_`` and ``-`` only.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str) -> str:
    """``name`` if it can be used in file names, else :class:`BadInput`."""
    if not NAME_PATTERN.match(name or "") or ".." in name:
        raise BadInput(
            f"The export name {name[:60]!r} cannot be used as a file name; use letters, digits, "
            "'.', '_' and '-' (at most 100, starting with a letter or digit)."
        )
    return name


def temp_prefix(export: str) -> str:
    return f"{TEMP_PREFIX}{export}~"


def new_temp(folder: Path, export: str, mode: int, suffix: str = "") -> tuple[Path, BinaryIO]:
    """A new, empty temp file of ``export`` in ``folder`` with ``mode``, opened for writing."""
    path = folder / f"{temp_prefix(export)}{secrets.token_hex(6)}{suffix}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # os.open's mode is filtered by the umask
        return path, os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise


def sync_folder(folder: Path) -> None:
    """Flush the folder's entries (renames) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def finish(handle: BinaryIO) -> None:
    """Flush and fsync an open temp file and close it."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def atomic_write(path: Path, data: bytes, export: str, mode: int) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename) with ``mode``."""
    tmp, handle = new_temp(path.parent, export, mode)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def publish_copy(source: Path, path: Path, export: str, mode: int) -> None:
    """Make ``path`` an atomic copy of the finished file ``source`` (same folder): a hard link
    renamed into place, or a copied temp file where the file system has no hard links."""
    tmp = path.parent / f"{temp_prefix(export)}{secrets.token_hex(6)}"
    try:
        try:
            os.link(source, tmp)
        except OSError:
            with open(source, "rb") as src:
                tmp_path, handle = new_temp(path.parent, export, mode)
                tmp = tmp_path
                shutil.copyfileobj(src, handle, 1 << 20)
                finish(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def stale_temps(folder: Path, export: str) -> list[Path]:
    """Temp files of ``export`` in ``folder`` (ours by name, including the older
    ``.<export>-<stamp>.<format>.<random>`` names of earlier versions)."""
    if not folder.is_dir():
        return []
    legacy = re.compile(
        rf"^\.{re.escape(export)}-\d{{8}}T\d{{4}}Z\.(geojson|gpkg)\.[A-Za-z0-9_]{{6,}}$"
    )
    prefix = temp_prefix(export)
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and (p.name.startswith(prefix) or legacy.match(p.name))
    )


def remove_stale_temps(folder: Path, export: str) -> list[str]:
    """Remove what :func:`stale_temps` finds; returns the removed names."""
    removed = []
    for path in stale_temps(folder, export):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed


@contextlib.contextmanager
def run_lock(lock_dir: Path, export: str) -> Iterator[None]:
    """Hold the lock of ``export`` (one run at a time); :class:`BadInput` if another holds it.

    The lock file lives in the instance folder, not in the published export folder.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{export}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadInput(f"The export {export!r} is already running; try again later.") from None
        yield
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
