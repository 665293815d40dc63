"""CSV reading and row validation (no database needed: ``prepare`` reads and validates only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tryggkarta.errors import BadInput
from tryggkarta.ingest import prepare
from tryggkarta.ingest.csv import sniff_delimiter

DATA = Path(__file__).parent / "data" / "ingest"
HEADER = "Datum;Kategori;Beskrivning;Latitud;Longitud\n"


def write(tmp_path: Path, text: str, name: str = "est.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(path: Path, layer: str = "incidents", **kw):
    return prepare(layer, path, **kw)


@pytest.mark.parametrize(
    "name, encoding", [("est_skara_utf8bom.csv", "utf-8-sig"), ("est_skara_cp1252.csv", "cp1252")]
)
def test_swedish_excel_csv_keeps_aao_and_reads_decimal_comma(name: str, encoding: str) -> None:
    gdf, report, rows = run(DATA / name)
    assert report.encoding == encoding
    assert report.delimiter == ";"
    assert report.rows_read == 3 and report.rows_rejected == 0
    assert list(gdf.columns[:-2]) == [
        "source_id",
        "occurred_at",
        "occurred_to",
        "category",
        "subcategory",
        "source_type",
        "description",
        "address",
        "reporter_org",
        "precision",
        "municipality_code",
    ]
    assert list(gdf.columns[-2:]) == ["dedup_key", "geometry"] or set(gdf.columns[-2:]) == {
        "dedup_key",
        "geometry",
    }
    assert gdf.crs.to_epsg() == 3006
    assert gdf["description"][1] == "Klotter på förskolans vägg – åäö ÅÄÖ"
    assert gdf["source_type"][0] == "Skadegörelse"
    assert list(gdf["category"]) == ["skadegorelse", "klotter", "nedskrapning"]
    # 58,3862 / 13,4380 in SWEREF 99 TM: Skara
    assert 400_000 < gdf.geometry.x[0] < 420_000 and 6_470_000 < gdf.geometry.y[0] < 6_480_000
    # date + time combined, local time -> UTC; "22/2 2021" day first
    assert str(gdf["occurred_at"][0]) == "2021-02-22 22:15:00+00:00"
    assert str(gdf["occurred_at"][2]) == "2021-02-21 23:00:00+00:00"
    assert list(rows) == [2, 3, 4]
    assert "inferred" in report.crs_note and report.crs.startswith("EPSG:4326")


@pytest.mark.parametrize("sep", [";", ",", "\t", "|"])
def test_delimiter_sniffed(sep: str) -> None:
    lines = [
        sep.join(["datum", "kategori", "lat", "lon"]),
        sep.join(["2021-01-01", "Brand", "58.1", "13.4"]),
    ]
    assert sniff_delimiter(lines) == sep


def test_tab_separated_with_decimal_point(tmp_path: Path) -> None:
    path = write(
        tmp_path, "date\tcategory\tlat\tlon\n2021-02-22 10:00\tgraffiti\t58.3862\t13.438\n"
    )
    gdf, report, _ = run(path)
    assert report.delimiter == "\t" and gdf["category"][0] == "klotter"


def test_utf16_file_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeff" + HEADER + "2021-02-22;Brand;Bil brann på Åsvägen;58,3862;13,438\n",
        encoding="utf-16-le",
    )
    gdf, report, _ = run(path)
    assert report.encoding == "utf-16" and gdf["description"][0] == "Bil brann på Åsvägen"


@pytest.mark.parametrize(
    "content, code",
    [
        (b"", "empty_file"),
        (HEADER.encode(), "header_only"),
        (bytes(range(256)) * 40, "binary_file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02\x03" * 500, "binary_file"),
        (b"datum,kategori\n2021-01-01,Brand\n", "no_coordinates"),
        (b"just one column\nvalue\n", "single_column"),
    ],
)
def test_file_level_errors(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(BadInput) as err:
        run(path)
    assert err.value.details["code"] == code
    assert err.value.message.endswith(".") and "\n" not in err.value.message


def test_row_level_errors_reject_rows_not_the_file(tmp_path: Path) -> None:
    body = (
        "2021-02-22;Brand;ok;58,3862;13,438\n"
        "inte ett datum;Brand;bad date;58,3862;13,438\n"
        "2021-02-22;Brand;bad coordinate;abc;13,438\n"
        "2021-02-22;Brand;nan;NaN;13,438\n"
        "2021-02-22;Brand;inf;58,3862;inf\n"
        "2021-02-22;Brand;missing;;13,438\n"
        "2099-01-01;Brand;future;58,3862;13,438\n"
        "2021-02-22;Brand;outside Sweden;48,85;2,35\n"
    )
    gdf, report, rows = run(write(tmp_path, HEADER + body))
    assert len(gdf) == 1 and list(rows) == [2]
    assert report.rows_read == 8 and report.rows_rejected == 7
    by_row = {r.row: r for r in report.rejected}
    assert by_row[3].column == "Datum" and "date" in by_row[3].reason
    assert by_row[4].value == "abc" and "number" in by_row[4].reason
    assert "number" in by_row[5].reason and "number" in by_row[6].reason
    assert "missing" in by_row[7].reason
    assert "future" in by_row[8].reason
    assert "outside" in by_row[9].reason


def test_mixed_delimiters_reject_the_odd_rows(tmp_path: Path) -> None:
    body = "2021-02-22;Brand;a;58,3862;13,438\n2021-02-22,Brand,b,58.3862,13.438\n2021-02-23;Brand;c;58,3862;13,438;extra;more\n"
    gdf, report, _ = run(write(tmp_path, HEADER + body))
    assert len(gdf) == 1
    assert {r.row for r in report.rejected} == {3, 4}


def test_swapped_lat_lon_whole_file_fixed_with_warning(tmp_path: Path) -> None:
    body = "".join(f"2021-02-2{i};Brand;x;13,43{i};58,386{i}\n" for i in range(5))
    gdf, report, _ = run(write(tmp_path, HEADER + body))
    assert len(gdf) == 5
    assert any("swap" in w for w in report.warnings)
    assert 400_000 < gdf.geometry.x.min() < 420_000


def test_single_swapped_rows_fixed_with_warning(tmp_path: Path) -> None:
    good = "".join(f"2021-02-2{i};Brand;x;58,38{i};13,43{i}\n" for i in range(8))
    bad = "2021-02-22;Brand;swapped;13,438;58,386\n" * 2
    gdf, report, _ = run(write(tmp_path, HEADER + good + bad))
    assert len(gdf) == 10 and report.rows_rejected == 0
    assert any(w.startswith("2 rows had lat/lon swapped — fixed") for w in report.warnings)


def test_sweref_columns_inferred_and_en_swap_detected(tmp_path: Path) -> None:
    text = "datum;kategori;N;E\n" + "".join(
        f"2021-02-22;Brand;6472{i}00;4250{i}0\n" for i in range(4)
    )
    # E/N columns hold N/E values the other way round: detected as swapped.
    gdf, report, _ = run(write(tmp_path, text.replace("N;E", "E;N")))
    assert "SWEREF 99 TM" in report.crs_note
    assert gdf.geometry.x.iloc[0] == pytest.approx(425000) and gdf.geometry.y.iloc[
        0
    ] == pytest.approx(6472000)
    assert any("swap" in w for w in report.warnings)


def test_unknown_crs_is_a_clear_error_and_crs_option_fixes_it(tmp_path: Path) -> None:
    # SWEREF 99 13 30 (EPSG:3008) values fit no range we can infer.
    text = "datum;kategori;x;y\n2021-02-22;Brand;150000;6472000\n"
    with pytest.raises(BadInput) as err:
        run(write(tmp_path, text))
    assert err.value.details["code"] == "crs_unknown" and "--crs" in err.value.message
    gdf, report, _ = run(write(tmp_path, text), crs=3008)
    assert report.crs.startswith("EPSG:3008") and len(gdf) == 1


def test_municipality_filter_rejects_rows_outside_it(tmp_path: Path) -> None:
    body = "2021-02-22;Brand;Skara;58,3862;13,438\n2021-02-22;Brand;Ystad;55,4295;13,8200\n"
    gdf, report, _ = run(write(tmp_path, HEADER + body), municipality_code="1495")
    assert len(gdf) == 1 and gdf["municipality_code"][0] == "1495"
    assert "1495" in report.rejected[0].reason and report.rejected[0].row == 3


def test_formula_and_html_text_stored_verbatim(tmp_path: Path) -> None:
    body = (
        '2021-02-22;Brand;=HYPERLINK("http://evil","x");58,3862;13,438\n'
        "2021-02-22;Brand;+cmd|' /C calc'!A0;58,3862;13,438\n"
        "2021-02-22;Brand;-2+3;58,3862;13,438\n"
        "2021-02-22;Brand;@SUM(A1);58,3862;13,438\n"
        "2021-02-22;Brand;<script>alert(1)</script>;58,3862;13,438\n"
    )
    gdf, _, _ = run(write(tmp_path, HEADER + body))
    assert list(gdf["description"]) == [
        '=HYPERLINK("http://evil","x")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "<script>alert(1)</script>",
    ]


@pytest.mark.parametrize(
    "rating, ok",
    [("0", False), ("9", False), ("2,5", False), ("x", False), ("1", True), ("5", True)],
)
def test_survey_rating_must_be_1_to_5(tmp_path: Path, rating: str, ok: bool) -> None:
    path = write(
        tmp_path,
        f"datum;betyg;lat;lon\n2024-05-01;{rating};58,3862;13,438\n2024-05-01;3;58,3862;13,438\n",
    )
    gdf, report, _ = run(path, layer="survey")
    assert len(gdf) == (2 if ok else 1)
    if not ok:
        assert report.rejected[0].column == "betyg" and "1–5" in report.rejected[0].reason


def test_survey_fixture_maps_reasons_and_time_of_day() -> None:
    gdf, _report, _ = run(DATA / "survey_skara.csv", layer="survey")
    assert list(gdf["rating"]) == [1, 2, 5]
    assert gdf["reasons"][0] == "belysning,folktomt" and gdf["reasons"][1] == "grupper"
    assert list(gdf["time_of_day"]) == ["kvall", "natt", "dag"]
    assert gdf["comment"][0] == "Mörkt under viadukten" and gdf["age_band"][2] == "65+"


def test_identical_rows_kept_apart_and_keys_stable(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "2021-02-22;Brand;x;58,3862;13,438\n" * 3)
    gdf, report, _ = run(path)
    assert len(gdf) == 3 and gdf["dedup_key"].nunique() == 3
    again, _, _ = run(path)
    assert list(gdf["dedup_key"]) == list(again["dedup_key"])
    assert any("identical" in w for w in report.warnings)


def test_unknown_categories_counted_and_original_kept(tmp_path: Path) -> None:
    body = (
        "2021-02-22;Tappad katt;x;58,3862;13,438\n" * 2 + "2021-02-22;NARCOTICS;x;58,3862;13,438\n"
    )
    gdf, report, _ = run(write(tmp_path, HEADER + body))
    assert report.unknown_categories == {"Tappad katt": 2}
    assert list(gdf["category"]) == ["ovrigt", "ovrigt", "narkotika"]
    assert gdf["source_type"][0] == "Tappad katt"


def test_gzipped_csv(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "est.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "2021-02-22;Brand;x;58,3862;13,438\n").encode()))
    gdf, _, _ = run(path)
    assert len(gdf) == 1


def test_gzip_bomb_refused(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"a;b\n" + b"0" * (300 * 1024 * 1024), compresslevel=9))
    with pytest.raises(BadInput) as err:
        run(path)
    assert err.value.details["code"] == "compression_bomb"


def test_rows_numbers_are_file_lines(tmp_path: Path) -> None:
    body = "2021-02-22;Brand;a;58,3862;13,438\n\n2021-02-22;Brand;b;xx;13,438\n"
    gdf, report, rows = run(write(tmp_path, HEADER + body))
    assert list(rows) == [2] and report.rejected[0].row == 4
    assert np.all(np.isfinite(gdf.geometry.x))
