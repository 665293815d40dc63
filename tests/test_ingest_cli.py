"""``tryggkarta import``: report printing, exit codes, undo and list."""

from __future__ import annotations

from pathlib import Path

import pytest

from tryggkarta.ingest import cli as ingest_cli
from tryggkarta.store import count

DATA = Path(__file__).parent / "data" / "ingest"
HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"


@pytest.fixture
def cli(sqlite_db, runner, monkeypatch):
    monkeypatch.setattr(ingest_cli, "_database", lambda: sqlite_db)
    return lambda *args: runner.invoke(ingest_cli.import_group, [str(a) for a in args])


def test_import_list_undo(cli, sqlite_db) -> None:
    result = cli("incidents", DATA / "est_skara_utf8bom.csv", "--source", "EST Skara")
    assert (
        result.exit_code == 0
        and "imported:    3" in result.output
        and "encoding:    utf-8-sig" in result.output
    )
    listing = cli("list")
    assert "est_skara_utf8bom.csv" in listing.output
    undone = cli("undo", "1")
    assert undone.exit_code == 0 and "3 incidents rows deleted" in undone.output
    assert count(sqlite_db, "incidents") == 0
    missing = cli("undo", "99")
    assert (
        missing.exit_code == 1
        and "no dataset 99" in missing.output
        and "Traceback" not in missing.output
    )


def test_exit_codes(cli, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    bad = cli("incidents", tmp_path / "empty.csv")
    assert bad.exit_code == 2 and "Error: The file empty.csv is empty." in bad.output
    (tmp_path / "x.csv").write_text(
        HEADER + "2021-02-22;Brand;ok;58,3862;13,438\n2021-02-22;Brand;bad;x;13,438\n"
    )
    strict = cli("incidents", tmp_path / "x.csv", "--strict")
    assert strict.exit_code == 1 and "STRICT" in strict.output
    dry = cli("incidents", tmp_path / "x.csv", "--dry-run", "--rejected-csv", tmp_path / "rej.csv")
    assert dry.exit_code == 0 and "DRY RUN" in dry.output and (tmp_path / "rej.csv").exists()
    assert cli("incidents", tmp_path / "nope.csv").exit_code == 2
    (tmp_path / "paris.csv").write_text(HEADER + "2021-02-22;Brand;Paris;48,85;2,35\n")
    assert cli("incidents", tmp_path / "paris.csv").exit_code == 1
