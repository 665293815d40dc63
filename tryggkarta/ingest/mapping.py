"""Which source column feeds which canonical field: automatic, or a small TOML file.

A mapping file, saved per source organisation and reused::

    source = "Chicago Police Department"       # dataset source (and dedup prefix via key)
    licence = "City of Chicago open data terms"
    key = "chicago"           # ids become dedup keys "chicago:<id>"; omit if ids are not unique
    crs = 4326                # CRS of the coordinate columns (else inferred from values)
    date_format = "%m/%d/%Y %H:%M"
    timezone = "America/Chicago"   # for times without an offset (default Europe/Stockholm)
    precision = "exact"
    kind = "district"         # areas/projects: a fixed kind

    [columns]                 # canonical field = source column (a list is joined)
    occurred_at = "date"
    category = "primary_type"
    lat = "latitude"
    lon = "longitude"

    [categories]              # source value = category key (case-insensitive)
    "DECEPTIVE PRACTICE" = "ovrigt"

Packaged mappings for the reference data live in ``tryggkarta/ingest/mappings/<name>.toml``
and can be named instead of given as a path (``--mapping chicago``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tryggkarta.domain import LAYER_FIELDS
from tryggkarta.ingest.files import bad

PACKAGED = Path(__file__).parent / "mappings"

#: Fields every point layer can take besides its canonical ones.
COORD_FIELDS = ("lon", "lat", "x", "y", "time")

#: Normalised header name -> canonical field, per layer (first match wins; order matters).
_COMMON_ALIASES: dict[str, tuple[str, ...]] = {
    "lat": ("lat", "latitude", "latitud", "breddgrad", "y_lat", "wgs84_lat", "lat_wgs84"),
    "lon": (
        "lon",
        "lng",
        "long",
        "longitude",
        "longitud",
        "langdgrad",
        "x_lon",
        "wgs84_lon",
        "lon_wgs84",
    ),
    "x": (
        "x",
        "e",
        "easting",
        "ost",
        "ostlig",
        "x_koordinat",
        "x_coordinate",
        "e_koordinat",
        "sweref_e",
        "sweref99_e",
    ),
    "y": (
        "y",
        "n",
        "northing",
        "nord",
        "nordlig",
        "y_koordinat",
        "y_coordinate",
        "n_koordinat",
        "sweref_n",
        "sweref99_n",
    ),
}
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "incidents": {
        "source_id": (
            "id",
            "source_id",
            "handelse_id",
            "event_id",
            "unique_key",
            "uid",
            "lopnummer",
            "incident_id",
        ),
        "occurred_at": (
            "occurred_at",
            "datetime",
            "datum_tid",
            "datum_och_tid",
            "tidpunkt",
            "handelsedatum",
            "datum",
            "date",
            "created_date",
            "datereported",
            "date_reported",
            "reported_date",
            "occurred_on_date",
            "occurred_on",
            "occurred_date",
            "date_occurred",
            "incident_date",
            "offense_date",
            "dispatch_ts",
            "dispatch_time",
            "dispatch_date",
            "starttid",
            "start",
            "fran",
            "time",
        ),
        "time": (
            "tid",
            "klockslag",
            "klockan",
            "kl",
            "time",
            "hour_time",
            "timme",
            "hour",
            "occurred_hour",
            "hour_of_day",
            "occ_hour",
        ),
        "occurred_to": ("occurred_to", "till", "sluttid", "datum_till", "end", "slut"),
        "category": (
            "kategori",
            "category",
            "handelsetyp",
            "brottstyp",
            "typ",
            "type",
            "crime_type",
            "primary_type",
            "complaint_type",
            "offense_type",
            "offense",
            "brott",
            "arendetyp",
        ),
        "subcategory": ("underkategori", "subcategory", "descriptor", "subtyp"),
        "description": (
            "beskrivning",
            "description",
            "summary",
            "sammanfattning",
            "text",
            "notering",
            "anteckning",
            "kommentar",
            "comment",
            "handelsebeskrivning",
        ),
        "address": (
            "adress",
            "address",
            "gatuadress",
            "plats",
            "incident_address",
            "block",
            "street_name",
            "location_name",
            "platsbeskrivning",
        ),
        "reporter_org": (
            "rapportor",
            "rapporterad_av",
            "rapporterande_organisation",
            "organisation",
            "reporter",
            "reported_by",
            "agency",
            "forvaltning",
            "reporter_org",
        ),
        "precision": ("precision", "noggrannhet"),
        "municipality_code": ("kommunkod", "kommun_kod", "municipality_code"),
        **_COMMON_ALIASES,
    },
    "survey": {
        "source_id": ("id", "source_id", "svar_id", "response_id"),
        "survey": ("survey", "enkat", "undersokning", "kampanj"),
        "answered_at": (
            "answered_at",
            "svarsdatum",
            "datum",
            "date",
            "tidpunkt",
            "datetime",
            "created_date",
        ),
        "rating": ("betyg", "rating", "trygghet", "score", "trygghetsbetyg", "varde"),
        "reasons": ("orsaker", "orsak", "reasons", "reason", "anledning", "anledningar"),
        "time_of_day": ("tid_pa_dygnet", "time_of_day", "dygnstid", "nar", "tid"),
        "comment": ("kommentar", "comment", "fritext", "beskrivning", "description"),
        "age_band": ("alder", "age", "aldersgrupp", "age_band", "aldersklass"),
        "gender": ("kon", "gender", "sex"),
        **_COMMON_ALIASES,
    },
    "projects": {
        "source_id": ("id", "source_id", "projekt_id", "project_id"),
        "name": ("namn", "name", "projektnamn", "projekt", "benamning", "titel", "title"),
        "case_number": ("diarienummer", "dnr", "case_number", "arendenummer", "case_no"),
        "kind": ("kind", "typ", "type", "projekttyp", "slag"),
        "status": ("status", "skede", "lage"),
        "start_date": ("start_date", "startdatum", "start", "fran"),
        "end_date": ("end_date", "slutdatum", "slut", "till"),
        "description": ("beskrivning", "description", "kommentar", "comment"),
    },
    "areas": {
        "name": (
            "namn",
            "name",
            "kommun",
            "kom_namn",
            "kommunnamn",
            "stadsdel",
            "omrade",
            "lan",
            "lan_namn",
            "precinct",
            "omradesnamn",
        ),
        "kind": ("kind", "typ", "type", "omradestyp"),
        "code": (
            "code",
            "kod",
            "kommun_kod",
            "kommunkod",
            "kom_kod",
            "lan_kod",
            "l_id",
            "omradeskod",
            "id",
        ),
        "source_id": ("source_id", "fid"),
    },
}
_TRANSLATE = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", "ü": "u"})


def norm_header(name: str) -> str:
    """``"Created Date"`` -> ``created_date``; ``"Händelse-ID"`` -> ``handelse_id``."""
    text = str(name).strip().lower().translate(_TRANSLATE)
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")


@dataclass
class Mapping:
    """An explicit mapping (see the module docstring for the TOML form)."""

    columns: dict[str, str | list[str]] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # other fields' value maps
    source: str | None = None
    licence: str | None = None
    key: str | None = None
    crs: int | str | None = None
    date_format: str | None = None
    date_join: str = " "
    default_date: str | None = None  # for files without dates (reference data): one date for all
    timezone: str | None = None
    dayfirst: bool | None = None
    precision: str | None = None
    kind: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    reporter_org: str | None = None
    name: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str | None = None) -> Mapping:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise bad(
                f"The mapping {name or ''} has unknown keys: {', '.join(sorted(unknown))}.",
                "bad_mapping",
            )
        cats = {str(k).strip().lower(): str(v) for k, v in (data.get("categories") or {}).items()}
        values = {
            f: {str(k).strip().lower(): str(v) for k, v in m.items()}
            for f, m in (data.get("values") or {}).items()
        }
        rest = {k: v for k, v in data.items() if k not in ("categories", "values")}
        return cls(
            categories=cats,
            values=values,
            name=name,
            **{k: v for k, v in rest.items() if k != "name"},
        )

    def to_toml(self) -> str:
        """The mapping as TOML text (to save for the next import from the same source)."""
        lines: list[str] = []
        for key in (
            "source",
            "licence",
            "key",
            "crs",
            "date_format",
            "date_join",
            "default_date",
            "timezone",
            "dayfirst",
            "precision",
            "kind",
            "sheet",
            "encoding",
            "delimiter",
            "reporter_org",
        ):
            value = getattr(self, key)
            if value is None or (key == "date_join" and value == " "):
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        if self.columns:
            lines += ["", "[columns]"] + [
                f"{k} = {_toml_value(v)}" for k, v in self.columns.items()
            ]
        if self.categories:
            lines += ["", "[categories]"] + [
                f"{_toml_value(k)} = {_toml_value(v)}" for k, v in self.categories.items()
            ]
        for fname, vmap in self.values.items():
            lines += ["", f"[values.{fname}]"] + [
                f"{_toml_value(k)} = {_toml_value(v)}" for k, v in vmap.items()
            ]
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = (
        str(value)
        .replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
    )
    return f'"{text}"'


#: Largest mapping file accepted (the packaged ones are about 2 KB).
MAX_MAPPING_BYTES = 256 * 1024


def load_mapping(spec: Mapping | str | Path | None) -> Mapping | None:
    """A :class:`Mapping` from an object, a TOML path, TOML text or a packaged mapping name."""
    if spec is None or isinstance(spec, Mapping):
        return spec
    text: str
    name = str(spec)
    path = Path(spec) if not isinstance(spec, str) or "\n" not in spec else None
    if path is not None and path.is_file():
        # An uploaded mapping is stored as "<token>.mapping.toml": show the user's view of it.
        name = re.sub(r"^[0-9a-f]{32}\.", "", path.name)
        if path.stat().st_size > MAX_MAPPING_BYTES:
            raise bad(
                f"The mapping {name} is larger than {MAX_MAPPING_BYTES // 1024} KB; a mapping is "
                "a short TOML file.",
                "bad_mapping",
            )
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise bad(f"The mapping {name} is not UTF-8 text.", "bad_mapping") from None
    elif path is not None and (PACKAGED / f"{name}.toml").is_file():
        text = (PACKAGED / f"{name}.toml").read_text(encoding="utf-8")
    elif isinstance(spec, str) and ("=" in spec or "[" in spec):
        text, name = spec, "(text)"
    else:
        available = ", ".join(sorted(p.stem for p in PACKAGED.glob("*.toml")))
        raise bad(
            f"The mapping {name!r} is neither a file nor a packaged mapping ({available}).",
            "bad_mapping",
        )
    if len(text) > MAX_MAPPING_BYTES:
        raise bad(f"The mapping {name} is too long for a mapping.", "bad_mapping")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise bad(f"The mapping {name} is not valid TOML: {exc}.", "bad_mapping") from None
    except RecursionError:
        raise bad(
            f"The mapping {name} is nested too deeply to be a mapping.", "bad_mapping"
        ) from None
    return Mapping.from_dict(data, name=name)


def save_mapping(mapping: Mapping, path: str | Path) -> Path:
    """Write ``mapping`` as TOML to ``path`` (for reuse with the same source)."""
    target = Path(path)
    target.write_text(mapping.to_toml(), encoding="utf-8")
    return target


def resolve_columns(
    layer: str, headers: list[str], mapping: Mapping | None
) -> dict[str, str | list[str]]:
    """Canonical field -> source column(s): explicit mapping first, then header aliases."""
    explicit = dict(mapping.columns) if mapping else {}
    allowed = set(LAYER_FIELDS[layer]) | set(COORD_FIELDS)
    for target, cols in explicit.items():
        if target not in allowed:
            raise bad(f"The mapping names an unknown field {target!r} for {layer}.", "bad_mapping")
        for col in [cols] if isinstance(cols, str) else cols:
            if col not in headers and target in COORD_FIELDS[:4]:
                continue  # e.g. a CSV mapping reused for the same source's GeoJSON
            if col not in headers:
                raise bad(
                    f"The mapping refers to a column {col!r} that the file does not have.",
                    "bad_mapping",
                )
    explicit = {
        t: c
        for t, c in explicit.items()
        if not (t in COORD_FIELDS[:4] and isinstance(c, str) and c not in headers)
    }
    used = {c for cols in explicit.values() for c in ([cols] if isinstance(cols, str) else cols)}
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(norm_header(h), h)
    out: dict[str, str | list[str]] = dict(explicit)
    for target, aliases in ALIASES.get(layer, {}).items():
        if target in out:
            continue
        for alias in aliases:
            col = by_norm.get(alias)
            if col is not None and col not in used:
                out[target] = col
                used.add(col)
                break
    return out
