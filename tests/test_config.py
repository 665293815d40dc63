"""Settings from defaults, TOML and environment, with one clear error for each bad value."""

from __future__ import annotations

import pytest

from tryggkarta.config import load_settings
from tryggkarta.errors import ConfigError
from tryggkarta.geo import parse_region


def test_defaults_are_sweref_and_sweden(tmp_path):
    s = load_settings(environ={"TRYGGKARTA_INSTANCE_PATH": str(tmp_path)})
    assert s.crs == 3006
    assert s.region == "SE"
    assert s.url == f"sqlite:///{tmp_path.resolve() / 'tryggkarta.db'}"
    assert len(s.secret_key) == 64


def test_environment_overrides_toml(tmp_path):
    toml = tmp_path / "tk.toml"
    toml.write_text('[tryggkarta]\ncrs = 32633\nregion = "1495"\nmin_count = 7\n', encoding="utf-8")
    s = load_settings(environ={"TRYGGKARTA_CONFIG": str(toml), "TRYGGKARTA_CRS": "EPSG:3006"})
    assert s.crs == 3006
    assert s.region == "1495"
    assert s.min_count == 7


def test_secret_key_file_is_used(tmp_path):
    (tmp_path / "secret_key").write_text("abc123\n", encoding="utf-8")
    s = load_settings(environ={"TRYGGKARTA_INSTANCE_PATH": str(tmp_path)})
    assert s.secret_key == "abc123"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRYGGKARTA_DATABASE_URL": "not a url"}, "is not a database URL"),
        ({"TRYGGKARTA_DATABASE_URL": "mysql://x/y"}, "only SQLite and PostgreSQL"),
        ({"TRYGGKARTA_CRS": "4326"}, "is not projected"),
        ({"TRYGGKARTA_CRS": "999999"}, "not a known coordinate system"),
        ({"TRYGGKARTA_CRS": "abc"}, "must be a whole number"),
        ({"TRYGGKARTA_CRS": "2263"}, "not metres"),
        ({"TRYGGKARTA_REGION": "Atlantis"}, "is not understood"),
        ({"TRYGGKARTA_REGION": "9999"}, "not a Swedish municipality code"),
        ({"TRYGGKARTA_TILE_URL": "https://tiles.example/tile.png"}, "must contain"),
        ({"TRYGGKARTA_MAX_UPLOAD_MB": "-5"}, "must be positive"),
        ({"TRYGGKARTA_CONFIG": "/nonexistent/tk.toml"}, "does not exist"),
    ],
)
def test_bad_settings_give_one_clear_error(env, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={"TRYGGKARTA_INSTANCE_PATH": str(tmp_path), **env})


def test_broken_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("crs = = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={"TRYGGKARTA_CONFIG": str(bad)})


def test_regions():
    assert parse_region("SE").contains_lonlat([13.4], [58.4]).all()
    skara = parse_region("1495")
    assert skara.municipality_code == "1495"
    assert skara.name == "Skara"
    assert skara.contains_lonlat([13.44], [58.39]).all()
    assert not skara.contains_lonlat([18.07], [59.33]).any()
    chicago = parse_region("-87.95,41.64,-87.52,42.03")
    assert chicago.contains_lonlat([-87.63], [41.88]).all()


def test_utm_working_crs_is_accepted():
    s = load_settings(
        environ={"TRYGGKARTA_CRS": "32616", "TRYGGKARTA_REGION": "-87.95,41.64,-87.52,42.03"}
    )
    assert s.crs == 32616


def test_default_locations_are_lat_lon_pairs(tmp_path):
    from tryggkarta.config import default_locations

    env = {"TRYGGKARTA_INSTANCE_PATH": str(tmp_path)}
    s = load_settings(
        environ={**env, "TRYGGKARTA_DEFAULT_LOCATIONS": "58.3862,13.4380; 58.39,13.44;"}
    )
    assert default_locations(s) == [(13.4380, 58.3862), (13.44, 58.39)]
    assert default_locations(load_settings(environ=env)) == []
    for bad in ("abc", "58.3862", "91,13", "58,13,1", "58;13", "nan,13"):
        with pytest.raises(ConfigError, match="DEFAULT_LOCATIONS must be 'lat,lon' pairs"):
            load_settings(environ={**env, "TRYGGKARTA_DEFAULT_LOCATIONS": bad})
