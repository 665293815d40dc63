"""Source values to the taxonomy: incident categories, survey reasons, kinds and statuses.

Lookups are case-insensitive on the stripped value; a mapping file's table wins over the
built-in one. Unknown incident types become ``ovrigt`` and are counted for the report; the
original value is kept in ``source_type``. Vectorised: each distinct value is looked up once.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from tryggkarta.domain import (
    AREA_KINDS,
    FALLBACK_CATEGORY,
    INCIDENT_CATEGORIES,
    PROJECT_KINDS,
    PROJECT_STATUSES,
    SURVEY_REASONS,
    TIMES_OF_DAY,
)

#: Source type (lower case) -> category key. Swedish Polisen types, EST words, and the
#: English vocabularies of the reference data (Chicago, Houston, police.uk, NYC 311).
CATEGORY_TABLE: dict[str, str] = {
    # Polisen event types
    "skadegörelse": "skadegorelse",
    "narkotikabrott": "narkotika",
    "misshandel": "vald_hot",
    "misshandel, grov": "vald_hot",
    "rån": "vald_hot",
    "rån, försök": "vald_hot",
    "rån väpnat": "vald_hot",
    "rån övrigt": "vald_hot",
    "väpnat rån": "vald_hot",
    "olaga hot": "vald_hot",
    "mord/dråp": "vald_hot",
    "mord/dråp, försök": "vald_hot",
    "vållande till kroppsskada": "vald_hot",
    "skottlossning": "vald_hot",
    "skottlossning, misstänkt": "vald_hot",
    "knivlagen": "vald_hot",
    "våld/hot mot tjänsteman": "vald_hot",
    "våldtäkt": "vald_hot",
    "våldtäkt, försök": "vald_hot",
    "sexualbrott": "vald_hot",
    "ofredande/förargelse": "vald_hot",
    "bråk": "ordningsstorning",
    "olaga intrång": "stold_inbrott",
    "stöld": "stold_inbrott",
    "stöld, försök": "stold_inbrott",
    "stöld/inbrott": "stold_inbrott",
    "inbrott": "stold_inbrott",
    "inbrott, försök": "stold_inbrott",
    "bedrägeri": "ovrigt",
    "häleri": "stold_inbrott",
    "tillgrepp": "stold_inbrott",
    "stöld/rån": "stold_inbrott",
    "fordonsstöld": "stold_inbrott",
    "brand": "brand",
    "brand automatlarm": "brand",
    "mordbrand": "brand",
    "trafikolycka": "trafik",
    "trafikolycka, personskada": "trafik",
    "trafikolycka, singel": "trafik",
    "trafikolycka, smitning": "trafik",
    "trafikolycka, vilt": "trafik",
    "trafikbrott": "trafik",
    "trafikhinder": "trafik",
    "trafikkontroll": "trafik",
    "rattfylleri": "trafik",
    "olovlig körning": "trafik",
    "ordningslagen": "ordningsstorning",
    "fylleri/lob": "ordningsstorning",
    "fylleri": "ordningsstorning",
    "ordningsstörning": "ordningsstorning",
    "allmän ordning": "ordningsstorning",
    "larm inbrott": "stold_inbrott",
    "klotter": "klotter",
    "nedskräpning": "nedskrapning",
    "ungdomar": "ungdomar",
    "ungdomar som samlas": "ungdomar",
    "trasig belysning": "belysning_fel",
    "belysning": "belysning_fel",
    "narkotika": "narkotika",
    "våld och hot": "vald_hot",
    "hot": "vald_hot",
    "våld": "vald_hot",
    "stöld och inbrott": "stold_inbrott",
    "trafik": "trafik",
    "övrigt": "ovrigt",
    "vapenlagen": "vald_hot",
    "motorfordon, stöld": "stold_inbrott",
    "motorfordon, anträffat stulet": "stold_inbrott",
    "trafikolycka, smitning från": "trafik",
    "explosion": "vald_hot",
    "detonation": "vald_hot",
    "smällar": "ordningsstorning",
    "alkohollagen": "ordningsstorning",
    "larm överfall": "vald_hot",
    "sedlighetsbrott": "vald_hot",
    "olaga frihetsberövande/människorov": "vald_hot",
    "bombhot": "vald_hot",
    "sabotage mot blåljusverksamhet": "skadegorelse",
    "hemfridsbrott": "stold_inbrott",
    **{
        t: "ovrigt"
        for t in (
            "sammanfattning natt",
            "sammanfattning kväll och natt",
            "sammanfattning dag",
            "sammanfattning kväll",
            "sammanfattning eftermiddag",
            "sammanfattning helg",
            "sammanfattning vecka",
            "sammanfattning dygn",
            "information",
            "uppdatering",
            "arbetsplatsolycka",
            "försvunnen person",
            "fjällräddning",
            "djur",
            "räddningsinsats",
            "anträffad död",
            "polisinsats/kommendering",
            "kontroll",
            "kontroll person/fordon",
            "sjukdom/olycksfall",
            "skyddslagen",
            "anträffat gods",
            "efterlyst person",
            "sjölagen",
            "miljöbrott",
            "luftfartslagen",
            "utlänningslagen",
            "missbruk av urkund",
            "ekobrott",
            "lagen om hundar och katter",
            "varningslarm/haveri",
            "förfalskningsbrott",
            "spridning smitta/kemikalier",
            "upphittat föremål",
            "farligt föremål, misstänkt",
            "åldringsbrott",
            "hets mot folkgrupp",
        )
    },
    # English (Chicago, Houston, police.uk, NYC 311, generic)
    "criminal damage": "skadegorelse",
    "vandalism": "skadegorelse",
    "criminal damage and arson": "skadegorelse",
    "criminal-damage-arson": "skadegorelse",
    "arson": "brand",
    "fire": "brand",
    "narcotics": "narkotika",
    "drugs": "narkotika",
    "other narcotic violation": "narkotika",
    "drug": "narkotika",
    "theft": "stold_inbrott",
    "burglary": "stold_inbrott",
    "motor vehicle theft": "stold_inbrott",
    "auto theft": "stold_inbrott",
    "vehicle crime": "stold_inbrott",
    "vehicle-crime": "stold_inbrott",
    "shoplifting": "stold_inbrott",
    "bicycle theft": "stold_inbrott",
    "bicycle-theft": "stold_inbrott",
    "other theft": "stold_inbrott",
    "other-theft": "stold_inbrott",
    "theft from the person": "stold_inbrott",
    "theft-from-the-person": "stold_inbrott",
    "robbery": "vald_hot",
    "personal robbery": "vald_hot",
    "battery": "vald_hot",
    "assault": "vald_hot",
    "aggravated assault": "vald_hot",
    "homicide": "vald_hot",
    "murder": "vald_hot",
    "rape": "vald_hot",
    "criminal sexual assault": "vald_hot",
    "sex offense": "vald_hot",
    "weapons violation": "vald_hot",
    "possession of weapons": "vald_hot",
    "possession-of-weapons": "vald_hot",
    "violent crime": "vald_hot",
    "violent-crime": "vald_hot",
    "violence and sexual offences": "vald_hot",
    "intimidation": "vald_hot",
    "kidnapping": "vald_hot",
    "stalking": "vald_hot",
    "anti-social behaviour": "ordningsstorning",
    "anti-social-behaviour": "ordningsstorning",
    "public order": "ordningsstorning",
    "public-order": "ordningsstorning",
    "public disorder": "ordningsstorning",
    "public peace violation": "ordningsstorning",
    "liquor law violation": "ordningsstorning",
    "disorder": "ordningsstorning",
    "drinking": "ordningsstorning",
    "noise": "ordningsstorning",
    "noise - residential": "ordningsstorning",
    "noise - street/sidewalk": "ordningsstorning",
    "noise - commercial": "ordningsstorning",
    "noise - vehicle": "ordningsstorning",
    "noise - park": "ordningsstorning",
    "street light condition": "belysning_fel",
    "street light out": "belysning_fel",
    "broken lighting": "belysning_fel",
    "graffiti": "klotter",
    "littering": "nedskrapning",
    "dirty conditions": "nedskrapning",
    "sanitation condition": "nedskrapning",
    "illegal dumping": "nedskrapning",
    "litter basket / request": "nedskrapning",
    "derelict vehicle": "nedskrapning",
    "derelict vehicles": "nedskrapning",
    "traffic": "trafik",
    "other crime": "ovrigt",
    "other-crime": "ovrigt",
    "public disorder and weapons": "ordningsstorning",
    "illegal parking": "trafik",
    "blocked driveway": "trafik",
    "traffic signal condition": "trafik",
    "street condition": "trafik",
    "youth gathering": "ungdomar",
    "other": "ovrigt",
}

REASON_TABLE: dict[str, str] = {
    "dålig belysning": "belysning",
    "belysning": "belysning",
    "mörkt": "belysning",
    "lighting": "belysning",
    "poor lighting": "belysning",
    "vegetation": "vegetation",
    "igenvuxet": "vegetation",
    "buskar": "vegetation",
    "dålig sikt": "vegetation",
    "overgrown": "vegetation",
    "folktomt": "folktomt",
    "öde": "folktomt",
    "deserted": "folktomt",
    "grupper": "grupper",
    "grupper som samlas": "grupper",
    "groups": "grupper",
    "nedskräpning": "nedskrapning",
    "klotter": "nedskrapning",
    "skräp": "nedskrapning",
    "litter": "nedskrapning",
    "graffiti": "nedskrapning",
    "trafik": "trafik",
    "traffic": "trafik",
    "narkotika": "narkotika",
    "droger": "narkotika",
    "drugs": "narkotika",
    "tidigare händelse": "tidigare_handelse",
    "earlier incident": "tidigare_handelse",
    "annat": "ovrigt",
    "övrigt": "ovrigt",
    "other": "ovrigt",
}
TIME_OF_DAY_TABLE = {
    "dag": "dag",
    "day": "dag",
    "dagtid": "dag",
    "kväll": "kvall",
    "kvall": "kvall",
    "evening": "kvall",
    "natt": "natt",
    "night": "natt",
    "nattetid": "natt",
}
STATUS_TABLE = {
    "planerad": "planerad",
    "planned": "planerad",
    "pågående": "pagaende",
    "pagaende": "pagaende",
    "ongoing": "pagaende",
    "in progress": "pagaende",
    "avslutad": "avslutad",
    "klar": "avslutad",
    "completed": "avslutad",
    "done": "avslutad",
}
AREA_KIND_TABLE = {
    "kommun": "municipality",
    "municipality": "municipality",
    "stadsdel": "district",
    "district": "district",
    "patrullområde": "patrol_area",
    "patrol area": "patrol_area",
    "patrol_area": "patrol_area",
    "precinct": "patrol_area",
}


def _table_for(keys: dict, extra: dict[str, str]) -> dict[str, str]:
    table = {k.lower(): k for k in keys}
    for key, label in keys.items():
        table[label.sv.lower()] = key
        table[label.en.lower()] = key
    table.update(extra)
    return table


def map_values(
    values: pd.Series,
    table: dict[str, str],
    override: dict[str, str] | None = None,
    default: str | None = None,
) -> tuple[pd.Series, dict[str, int]]:
    """Map each distinct value once. Returns (keys, unknown value -> count); NaN stays NaN."""
    text = values.astype("string").str.strip()
    lookup = {**table, **(override or {})}
    uniques = text.dropna().unique()
    result = {u: lookup.get(str(u).lower()) for u in uniques}
    unknown_keys = [u for u, k in result.items() if k is None]
    mapped = text.map(result)  # a dict: looked up per distinct value, not per row
    counts = text[text.isin(unknown_keys)].value_counts() if unknown_keys else pd.Series(dtype=int)
    if default is not None:
        mapped = mapped.where(mapped.notna() | text.isna(), default)
    return mapped.astype(object), {str(k): int(n) for k, n in counts.items()}


def map_categories(
    values: pd.Series, override: dict[str, str] | None = None
) -> tuple[pd.Series, dict[str, int]]:
    """Incident source types -> category keys (unknown -> ``ovrigt``, counted)."""
    table = _table_for(INCIDENT_CATEGORIES, CATEGORY_TABLE)
    mapped, unknown = map_values(values, table, override, default=FALLBACK_CATEGORY)
    mapped = mapped.where(mapped.notna(), FALLBACK_CATEGORY)
    return mapped, unknown


def map_reasons(
    values: pd.Series, override: dict[str, str] | None = None
) -> tuple[pd.Series, dict[str, int]]:
    """Survey reasons (several per cell, split on , ; | /) -> comma-joined reason keys."""
    table = _table_for(SURVEY_REASONS, REASON_TABLE)
    parts = values.astype("string").str.split(r"\s*[,;|/]\s*", regex=True).explode()
    parts = parts[parts.notna() & (parts.str.len() > 0)]
    keys, unknown = map_values(parts, table, override, default="ovrigt")
    joined = keys.groupby(level=0).agg(lambda s: ",".join(dict.fromkeys(s)))
    return joined.reindex(values.index).astype(object), unknown


def map_simple(
    kind: str, values: pd.Series, override: dict[str, str] | None = None
) -> tuple[pd.Series, dict[str, int]]:
    """Time of day, project kind/status and area kind."""
    keys, extra, default = {
        "time_of_day": (TIMES_OF_DAY, TIME_OF_DAY_TABLE, None),
        "kind_projects": (PROJECT_KINDS, {}, "ovrigt"),
        "status": (PROJECT_STATUSES, STATUS_TABLE, None),
        "kind_areas": (AREA_KINDS, AREA_KIND_TABLE, None),
    }[kind]
    return map_values(values, _table_for(keys, extra), override, default=default)


def slug(text: str) -> str:
    """A short ASCII key for a source name (dedup-key prefix)."""
    t = text.lower().translate(str.maketrans("åäöé", "aaoe"))
    return re.sub(r"[^a-z0-9]+", "-", t).strip("-")[:40] or "source"


def is_county(names: pd.Series) -> np.ndarray:
    """Polisen location names that are counties (``"Skåne län"``)."""
    return (
        names.astype("string")
        .str.strip()
        .str.lower()
        .str.endswith(" län")
        .fillna(False)
        .to_numpy(bool)
    )
