"""A streamed CSV import reads a UTF-8 file from disk piece by piece: its memory does not grow
with the file (the whole file used to be held as bytes, and once decoded as text)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tryggkarta.ingest import csv as csv_reader
from tryggkarta.ingest.registry import ReadOptions

HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"


def _write(path: Path, rows: int, *, tail: bytes = b"", bom: bool = False) -> Path:
    line = "2025-03-0{d} 12:00;Klotter;Rapport {i} – åäö;58,38{i:04d};13,44\n"
    text = HEADER + "".join(line.format(d=1 + i % 9, i=i % 10000) for i in range(rows))
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8") + tail)
    return path


def _frames(path: Path, **options) -> tuple[pd.DataFrame, list]:
    pieces = list(csv_reader.read_chunks(path, ReadOptions(**options), chunksize=20_000))
    frame = pd.concat([p.frame for p in pieces])
    return frame, [(p.encoding, p.delimiter, len(p.frame), list(p.row_numbers[:3])) for p in pieces]


@pytest.mark.parametrize("bom", [False, True])
def test_a_utf8_file_streams_from_disk_with_the_same_rows(tmp_path, monkeypatch, bom):
    path = _write(tmp_path / "big.csv", 90_000, bom=bom)  # > 4 MiB: several check blocks
    assert path.stat().st_size > 5 * 2**20
    whole_frame, whole_meta = None, None
    with monkeypatch.context() as m:  # the old way: the whole file in memory
        m.setattr(csv_reader, "_utf8_source", lambda *_a: None)
        whole_frame, whole_meta = _frames(path)

    def no_whole_read(*_args, **_kwargs):
        raise AssertionError("the streamed reader read the whole file into memory")

    monkeypatch.setattr(csv_reader, "read_bytes", no_whole_read)
    frame, meta = _frames(path)
    assert meta == whole_meta
    assert meta[0][0] == ("utf-8-sig" if bom else "utf-8")
    pd.testing.assert_frame_equal(frame, whole_frame)
    assert list(frame.columns) == ["Datum", "Kategori", "Beskrivning", "Latitud", "Longitud"]


def test_a_windows_1252_byte_after_the_first_blocks_still_takes_the_careful_path(tmp_path):
    # one "ä" in Windows-1252 after 5 MiB of UTF-8: a mixed file, as the whole-file path says
    path = _write(
        tmp_path / "mixed.csv",
        90_000,
        tail=b"2025-03-01 12:00;Klotter;G" + b"\xe4" + b"rd;58,38;13,44\n",
    )
    assert csv_reader._utf8_source(path, ReadOptions()) is None
    frame, meta = _frames(path)
    assert meta[0][0] != "utf-8"
    assert frame["Beskrivning"].iloc[-1] == "Gärd"


@pytest.mark.parametrize(
    "content,code",
    [
        (b"", "empty_file"),
        (b"   \n\n", "empty_file"),
        (HEADER.encode(), "header_only"),
        (b"just one column\nvalue\n", "single_column"),
        (b"\x00\x01\x02binary\x00" * 100, "binary_file"),
    ],
)
def test_bad_files_give_the_same_errors_as_before(tmp_path, content, code):
    from tryggkarta.errors import BadInput

    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(BadInput) as caught:
        list(csv_reader.read_chunks(path, ReadOptions()))
    assert caught.value.details["code"] == code


def test_an_explicit_encoding_other_than_utf8_reads_the_whole_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + "2025-03-01 12:00;Klotter;Gärd;58,38;13,44\n").encode("cp1252"))
    assert csv_reader._utf8_source(path, ReadOptions(encoding="cp1252")) is None
    frame, meta = _frames(path, encoding="cp1252")
    assert frame["Beskrivning"].iloc[0] == "Gärd" and meta[0][0] == "cp1252"
