"""Where the top-level ``templates/`` and ``data/`` folders are: the checkout, or the wheel."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def _find(top_level: str, packaged: str) -> Path:
    candidate = CHECKOUT / top_level
    if candidate.is_dir() and (CHECKOUT / "pyproject.toml").is_file():
        return candidate
    return PACKAGE / packaged


def templates_dir() -> Path:
    return _find("templates", "_templates")


def data_dir() -> Path:
    return _find("data", "_data")


def static_dir() -> Path:
    return PACKAGE / "static"
