"""The field's vocabulary: layers, categories, survey reasons, measures, roles.

Keys are stable ASCII identifiers used in code, the database and APIs; every key has a
Swedish and an English label. See ``design/DOMAIN.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Label:
    sv: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.sv


class Layer(StrEnum):
    INCIDENTS = "incidents"
    SURVEY = "survey"
    PROJECTS = "projects"
    AREAS = "areas"


LAYER_LABELS: dict[str, Label] = {
    Layer.INCIDENTS: Label("Händelser (EST och polis)", "Incidents (EST and police)"),
    Layer.SURVEY: Label("Trygghetsundersökning", "Safety survey"),
    Layer.PROJECTS: Label("Plan- och gestaltningsprojekt", "Planning and design projects"),
    Layer.AREAS: Label("Områden", "Areas"),
}

#: Incident categories (EST taxonomy). Order is the display order.
INCIDENT_CATEGORIES: dict[str, Label] = {
    "skadegorelse": Label("Skadegörelse", "Vandalism"),
    "klotter": Label("Klotter", "Graffiti"),
    "nedskrapning": Label("Nedskräpning", "Littering"),
    "brand": Label("Brand", "Fire"),
    "narkotika": Label("Narkotika", "Drugs"),
    "ordningsstorning": Label("Ordningsstörning", "Public disorder"),
    "vald_hot": Label("Våld och hot", "Violence and threats"),
    "stold_inbrott": Label("Stöld och inbrott", "Theft and burglary"),
    "ungdomar": Label("Ungdomar som samlas", "Youth gathering"),
    "trafik": Label("Trafik", "Traffic"),
    "belysning_fel": Label("Trasig belysning", "Broken lighting"),
    "ovrigt": Label("Övrigt", "Other"),
}
FALLBACK_CATEGORY = "ovrigt"

#: Categories that describe the physical environment (used by design hotspots).
ENVIRONMENT_CATEGORIES: tuple[str, ...] = (
    "belysning_fel",
    "klotter",
    "nedskrapning",
    "skadegorelse",
)

#: Survey reasons for feeling unsafe.
SURVEY_REASONS: dict[str, Label] = {
    "belysning": Label("Dålig belysning", "Poor lighting"),
    "vegetation": Label("Igenvuxet, dålig sikt", "Overgrown, poor sight lines"),
    "folktomt": Label("Folktomt", "Deserted"),
    "grupper": Label("Grupper som samlas", "Groups gathering"),
    "nedskrapning": Label("Nedskräpning och klotter", "Litter and graffiti"),
    "trafik": Label("Trafik", "Traffic"),
    "narkotika": Label("Narkotikaförsäljning eller -bruk", "Drug dealing or use"),
    "tidigare_handelse": Label("Tidigare händelse", "Earlier incident"),
    "ovrigt": Label("Annat", "Other"),
}

#: A rating at or below this counts as "unsafe" (1 = very unsafe ... 5 = very safe).
UNSAFE_MAX_RATING = 2
RATING_MIN, RATING_MAX = 1, 5

TIMES_OF_DAY: dict[str, Label] = {
    "dag": Label("Dag", "Day"),
    "kvall": Label("Kväll", "Evening"),
    "natt": Label("Natt", "Night"),
}

#: Measures a design hotspot can recommend, with what triggers them (survey reasons and
#: incident categories).
MEASURES: dict[str, Label] = {
    "belysning": Label("Bättre belysning", "Better lighting"),
    "siktlinjer": Label("Röj vegetation, öppna siktlinjer", "Clear vegetation, open sight lines"),
    "platsaktivering": Label(
        "Aktivera platsen (aktiviteter, blandade funktioner, sittplatser)",
        "Activate the place (activities, mixed use, seating)",
    ),
    "stadning": Label(
        "Städning och klottersanering inom 24 h", "Cleaning and graffiti removal within 24 h"
    ),
    "trafiksakerhet": Label("Trafiksäkerhet", "Traffic safety"),
    "polisiar_narvaro": Label("Polisiär närvaro", "Police presence"),
}
#: Kinds of measure in the register of measures (insatser). Keys shared with :data:`MEASURES`
#: where they mean the same thing, so project measures and older interventions keep a label.
MEASURE_KINDS: dict[str, Label] = {
    "polisiar_narvaro": Label("Patrullering", "Patrol"),
    "belysning": Label("Lagad belysning", "Lighting repair"),
    "siktlinjer": Label("Röjning av vegetation", "Vegetation clearing"),
    "stadning": Label("Städning", "Cleaning"),
    "kamera": Label("Kamerabevakning", "Camera surveillance"),
    "fritidsledare": Label("Fältassistenter och fritidsledare", "Youth workers"),
    "platsaktivering": Label("Platsaktivering", "Place activation"),
    "ovrigt": Label("Övrigt", "Other"),
}
#: Status of a measure, in the order of its life.
MEASURE_STATUSES: dict[str, Label] = {
    "planerad": Label("Planerad", "Planned"),
    "pagaende": Label("Pågående", "Ongoing"),
    "klar": Label("Klar", "Done"),
    "installd": Label("Inställd", "Cancelled"),
}
#: Where a measure came from.
MEASURE_ORIGINS: dict[str, Label] = {
    "manual": Label("Inlagd direkt", "Entered directly"),
    "decision": Label("Beslut i lägesbilden", "Weekly-picture decision"),
    "project": Label("Projektåtgärd", "Project measure"),
    "promise": Label("Aktivitet i medborgarlöftet", "Citizen-promise activity"),
}

#: The three parts of a citizen promise (medborgarlöfte), in the order of the document.
PROMISE_PARTIES: dict[str, Label] = {
    "kommunen": Label("Kommunen lovar", "The municipality promises"),
    "polisen": Label("Polisen lovar", "The police promise"),
    "tillsammans": Label("Tillsammans lovar vi", "Together we promise"),
}


def measure_kind_label(key: str, lang: str = "sv") -> str:
    """Label of a measure kind (or of a project measure key); the key itself if unknown."""
    label = MEASURE_KINDS.get(key) or MEASURES.get(key)
    return label.get(lang) if label else key


MEASURE_TRIGGERS: dict[str, dict[str, tuple[str, ...]]] = {
    "belysning": {"reasons": ("belysning",), "categories": ("belysning_fel",)},
    "siktlinjer": {"reasons": ("vegetation",), "categories": ()},
    "platsaktivering": {"reasons": ("folktomt", "grupper"), "categories": ("ungdomar",)},
    "stadning": {
        "reasons": ("nedskrapning",),
        "categories": ("nedskrapning", "klotter", "skadegorelse"),
    },
    "trafiksakerhet": {"reasons": ("trafik",), "categories": ("trafik",)},
    "polisiar_narvaro": {
        "reasons": ("narkotika",),
        "categories": ("narkotika", "vald_hot", "ordningsstorning", "stold_inbrott"),
    },
}

#: Position precision of an incident. Only the first three are street-level and may enter a
#: street-level hotspot; the rest count in area totals and trends only.
PRECISIONS: dict[str, Label] = {
    "exact": Label("Exakt", "Exact"),
    "address": Label("Adress", "Address"),
    "street": Label("Gata", "Street"),
    "district": Label("Stadsdel", "District"),
    "municipality": Label("Kommun", "Municipality"),
    "county": Label("Län", "County"),
}
STREET_LEVEL_PRECISIONS: tuple[str, ...] = ("exact", "address", "street")

PROJECT_KINDS: dict[str, Label] = {
    "detaljplan": Label("Detaljplan", "Detailed development plan"),
    "gestaltning": Label("Gestaltningsprojekt", "Design project"),
    "park": Label("Park", "Park"),
    "gata": Label("Gata", "Street"),
    "belysning": Label("Belysningsprojekt", "Lighting project"),
    "torg": Label("Torg", "Square"),
    "ovrigt": Label("Övrigt", "Other"),
}
PROJECT_STATUSES: dict[str, Label] = {
    "planerad": Label("Planerad", "Planned"),
    "pagaende": Label("Pågående", "In progress"),
    "avslutad": Label("Avslutad", "Completed"),
}

AREA_KINDS: dict[str, Label] = {
    "municipality": Label("Kommun", "Municipality"),
    "district": Label("Stadsdel", "District"),
    "patrol_area": Label("Patrullområde", "Patrol area"),
}


class Role(StrEnum):
    ADMIN = "admin"
    POLICE = "police"
    MUNICIPALITY = "municipality"
    PLANNER = "planner"
    PARTNER = "partner"
    REPORTER = "reporter"
    PUBLIC = "public"


ROLE_LABELS: dict[str, Label] = {
    Role.ADMIN: Label("Administratör", "Administrator"),
    Role.POLICE: Label("Polis", "Police"),
    Role.MUNICIPALITY: Label("Kommun (trygghetssamordnare)", "Municipality (safety coordinator)"),
    Role.PLANNER: Label("Planerare", "Planner"),
    Role.PARTNER: Label("Samverkanspartner", "Partner"),
    Role.REPORTER: Label("EST-rapportör", "EST reporter"),
    Role.PUBLIC: Label("Allmänheten", "Public"),
}


class Detail(StrEnum):
    """How much of a layer a role may see."""

    RAW = "raw"  # individual features, sensitive text included
    AGGREGATED = "aggregated"  # grid cells / area totals with k-anonymity
    HIDDEN = "hidden"


#: Who sees how much of each layer lives in :mod:`tryggkarta.policy` (the one access policy).

#: Minimum number of records in a public/partner cell, area or time bucket (k-anonymity).
DEFAULT_MIN_COUNT = 5


class Trend(StrEnum):
    """Whether a count goes up: the one trend vocabulary (cells, patrol and emerging hot
    spots, the weekly picture, popups)."""

    UP = "up"
    DOWN = "down"
    FLAT = "flat"


TREND_LABELS: dict[str, Label] = {
    Trend.UP: Label("ökar", "increasing"),
    Trend.DOWN: Label("minskar", "decreasing"),
    Trend.FLAT: Label("oförändrad", "unchanged"),
}
#: Words older outputs and other tools use for the same three trends.
_TREND_WORDS: dict[str, Trend] = {
    **{w: Trend.UP for w in ("up", "ökar", "okar", "ökande", "increasing", "rising")},
    **{w: Trend.DOWN for w in ("down", "minskar", "minskande", "decreasing", "falling")},
    **{
        w: Trend.FLAT
        for w in ("flat", "oförändrad", "oforandrad", "oförändrat", "unchanged", "none", "no trend")
    },
}


def trend_key(value: object) -> Trend | None:
    """``value`` (a key, or a Swedish/English trend word) as a :class:`Trend`; None if it is
    not one."""
    return _TREND_WORDS.get(str(value).strip().lower()) if value is not None else None


def trend_label(value: object, lang: str = "sv") -> str:
    """The trend's label in ``lang``; empty for something that is not a trend."""
    key = trend_key(value)
    return TREND_LABELS[key].get(lang) if key is not None else ""


def category_label(key: str, lang: str = "sv") -> str:
    label = INCIDENT_CATEGORIES.get(key)
    return label.get(lang) if label else key


#: Canonical columns of each layer as readers deliver them (besides ``geometry``) and as the
#: store keeps them. ``source_id`` is the id in the source system (Polisen event id, a
#: case number...), used for idempotent re-imports.
LAYER_FIELDS: dict[str, tuple[str, ...]] = {
    Layer.INCIDENTS: (
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
    ),
    Layer.SURVEY: (
        "source_id",
        "survey",
        "answered_at",
        "rating",
        "reasons",
        "time_of_day",
        "comment",
        "age_band",
        "gender",
    ),
    Layer.PROJECTS: (
        "source_id",
        "name",
        "case_number",
        "kind",
        "status",
        "start_date",
        "end_date",
        "description",
    ),
    Layer.AREAS: ("source_id", "name", "kind", "code"),
}
