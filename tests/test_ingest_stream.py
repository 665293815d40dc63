"""Streamed CSV imports (large incident files, read in chunks) equal the whole-file import."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from tryggkarta.ingest import import_file, service, undo_import
from tryggkarta.store import count, layer_frame

HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"
SAME = "2024-03-01 10:00;Klotter;Samma rad;58,3901;13,4402\n"


def _lines() -> list[str]:
    lines = []
    for i in range(40):
        if i in (3, 6, 7, 14, 21, 29):
            lines.append(SAME)  # identical rows within and across chunks of 7
        elif i == 9:
            lines.append("inte ett datum;Klotter;dåligt datum;58,39;13,44\n")
        elif i == 11:
            lines.append("2024-03-02 10:00;Klotter;x;abc;13,44\n")
        elif i == 16:
            lines.append("2024-03-02 10:00;Klotter;för många;58,39;13,44;extra\n")
        elif i == 18:
            lines.append("\n")
        elif i == 23:
            lines.append("2024-03-02 11:00;Okänd sak;ny kategori;58,40;13,45\n")
        elif i == 25:
            lines.append("2024-03-02 12:00;Brand;utanför;40,0;13,45\n")
        elif i == 27:
            lines.append("2024-03-02 13:00;Brand;bytt plats;13,45;58,41\n")
        else:
            lines.append(
                f"2024-03-{1 + i % 28:02d} {i % 24:02d}:15;Skadegörelse;Rad {i} – åäö;"
                f"58,{3800 + i};13,{4400 + i}\n"
            )
    return lines


def _stored(db) -> list[tuple]:
    frame = layer_frame(db, "incidents")
    cols = ["dedup_key", "occurred_at", "category", "description", "x", "y"]
    cols = [c for c in cols if c in frame.columns]
    return sorted(map(tuple, frame[cols].astype(str).to_numpy().tolist()))


def _summary(report) -> tuple:
    return (
        report.rows_read,
        report.rows_imported,
        report.rows_rejected,
        report.rows_duplicate,
        sorted((r.row, r.column, r.value, r.reason) for r in report.rejected),
        sorted(report.warnings),
        report.unknown_categories,
        report.date_formats,
        report.crs,
        report.crs_note,
        report.encoding,
        report.delimiter,
        report.format,
        report.column_map,
    )


def test_streamed_import_equals_whole_file(
    db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "est.csv"
    path.write_text(HEADER + "".join(_lines()), encoding="utf-8-sig")
    whole = import_file(db, "incidents", path)
    assert whole.rows_imported > 0 and whole.rows_rejected == 4
    expected = _stored(db)
    assert sum(1 for row in expected if row[0].endswith(":5")) == 1  # six identical rows: :0 … :5
    undo_import(db, whole.dataset_id)
    assert count(db, "incidents") == 0

    monkeypatch.setattr(service, "STREAM_BYTES", 0)
    monkeypatch.setattr(service, "STREAM_CHUNK", 7)
    seen = []
    real = service.LayerWriter.prepare
    monkeypatch.setattr(
        service.LayerWriter,
        "prepare",
        lambda self, gdf: (seen.append(len(gdf)), real(self, gdf))[1],
    )
    streamed = import_file(db, "incidents", path)
    assert len(seen) > 3  # written chunk by chunk
    assert _stored(db) == expected  # the same dedup keys, times, positions
    assert _summary(streamed) == _summary(whole)


def test_streamed_strict_and_dry_run(db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "STREAM_BYTES", 0)
    monkeypatch.setattr(service, "STREAM_CHUNK", 7)
    path = tmp_path / "est.csv"
    path.write_text(HEADER + "".join(_lines()), encoding="utf-8")
    strict = import_file(db, "incidents", path, strict=True)
    assert strict.strict_refused and strict.dataset_id is None and strict.rows_rejected == 4
    assert count(db, "incidents") == 0
    dry = import_file(db, "incidents", path, dry_run=True)
    assert (
        count(db, "incidents") == 0 and dry.rows_imported == 40 - 4 - 1
    )  # rejected (incl. the bad line), blank
    report = import_file(db, "incidents", path)
    assert report.rows_imported == dry.rows_imported == count(db, "incidents")
    again = tmp_path / "again.csv"
    again.write_text(HEADER + "".join(_lines()) + SAME, encoding="utf-8")
    dry2 = import_file(db, "incidents", again, dry_run=True)
    assert (dry2.rows_imported, dry2.rows_duplicate) == (1, report.rows_imported)
    real = import_file(db, "incidents", again)
    assert (real.rows_imported, real.rows_duplicate) == (1, report.rows_imported)
    assert count(db, "incidents") == report.rows_imported + 1
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "".join("2024-03-01 10:00;Klotter;x;;\n" for _ in range(20)), encoding="utf-8"
    )
    with pytest.raises(service.BadInput):
        import_file(db, "incidents", bad)
    assert count(db, "incidents") == report.rows_imported + 1


def test_streamed_bulk_loads_equal_row_by_row(
    db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file streamed in bulk mode (a first load: every index dropped and rebuilt) and
    then again with more rows (a load as large as the table: bulk with the key index kept, or
    an anti-join) stores what the row-by-row path stores, and adds nothing twice."""
    from tryggkarta.store import writes

    monkeypatch.setattr(service, "STREAM_BYTES", 0)
    monkeypatch.setattr(service, "STREAM_CHUNK", 7)
    path = tmp_path / "est.csv"
    path.write_text(HEADER + "".join(_lines()), encoding="utf-8")
    more = tmp_path / "more.csv"
    more.write_text(
        HEADER
        + "".join(_lines())
        + "".join(
            f"2024-04-{1 + i % 28:02d} 08:00;Klotter;Ny {i};58,{3900 + i};13,{4500 + i}\n"
            for i in range(40)
        ),
        encoding="utf-8",
    )
    row_by_row = [import_file(db, "incidents", p).rows_imported for p in (path, more)]
    expected = _stored(db)
    with db.session() as s:
        for ident in sorted({d for (d,) in s.execute(text("SELECT id FROM datasets"))}):
            undo_import(db, ident)
    assert count(db, "incidents") == 0

    monkeypatch.setattr(writes, "BULK_MIN", 10)
    modes = []
    real = writes.LayerWriter.finish
    monkeypatch.setattr(
        writes.LayerWriter,
        "finish",
        lambda self: (real(self), modes.append((self.bulk, self.direct)))[0],
    )
    bulk = [import_file(db, "incidents", p).rows_imported for p in (path, more)]
    assert modes[0] == (True, True)  # first load
    assert modes[1][0] is True  # 76 rows into 35: bulk again
    assert bulk == row_by_row
    assert _stored(db) == expected
    assert import_file(db, "incidents", more).rows_imported == 0


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_arrow_reader_gives_the_frames_and_rows_pandas_gives(
    tmp_path: Path, newline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean UTF-8 file streams through Arrow's reader: same cells (text, missing, quoted
    delimiters and line breaks, å ä ö), same row numbers across blank lines, as pandas reads
    the whole file; a file with a bad row takes pandas' path and reports it."""
    from tryggkarta.ingest import csv as csv_reader
    from tryggkarta.ingest.registry import ReadOptions

    rows = [
        '2024-03-01 10:00;Klotter;"citat; med semikolon";58,39;13,44',
        "",
        "2024-03-02 11:00;Brand;;58,40;13,45",
        '2024-03-03 12:00;Skadegörelse;"två\nrader";58,41;13,46',
        "2024-03-04 13:00; Stöld ;åäö ÅÄÖ;58,42;13,47",
    ] + [
        f"2024-03-{5 + i:02d} 09:00;Klotter;rad {i};58,{4300 + i};13,{4800 + i}" for i in range(20)
    ]
    path = tmp_path / "ren.csv"
    path.write_bytes(
        ("\ufeff" + HEADER.strip() + newline + newline.join(rows) + newline).encode("utf-8")
    )
    options = ReadOptions(sheet=None, encoding=None, delimiter=None, crs=None, filename=path.name)
    used = []
    real = csv_reader._arrow_frames
    monkeypatch.setattr(
        csv_reader,
        "_arrow_frames",
        lambda *a: (lambda r: (used.append(r is not None), r)[1])(real(*a)),
    )
    pieces = list(csv_reader.read_chunks(path, options, chunksize=4))
    assert used == [True]
    whole = csv_reader.read(path, options)
    streamed = pd.concat([p.frame for p in pieces])
    assert streamed.reset_index(drop=True).equals(whole.frame.reset_index(drop=True))
    assert [int(n) for p in pieces for n in p.row_numbers] == [int(n) for n in whole.row_numbers]
    assert streamed["Beskrivning"].isna().sum() == 1 and "två\nrader" in set(
        streamed["Beskrivning"]
    )

    bad = tmp_path / "trasig.csv"
    lines = [f"{r}\n" for r in rows[5:]]
    lines.insert(2, "2024-03-01 10:00;Klotter;x;58,39;13,44;extra\n")  # line 4: six fields
    bad.write_text(HEADER + "".join(lines), encoding="utf-8")
    used.clear()
    pieces = list(csv_reader.read_chunks(bad, options, chunksize=4))
    assert used == [False]
    assert [r[0] for p in pieces for r in p.bad_rows] == [4]
