"""The import preview in the reader's language: field names and coded values as labels.

The preview table shows the rows as they will be stored; the store keeps keys
(``klotter``, ``exact``, ``detaljplan``), the page shows their labels (Swedish or English).
"""

from __future__ import annotations

from typing import Any

from tryggkarta import domain
from tryggkarta.i18n import translate

#: Swedish labels of every layer's fields (English in translations/en/imports.toml).
FIELD_LABELS: dict[str, str] = {
    "source_id": "Käll-id",
    "occurred_at": "Tidpunkt",
    "occurred_to": "Till och med",
    "category": "Kategori",
    "subcategory": "Underkategori",
    "source_type": "Typ i källan",
    "description": "Beskrivning",
    "address": "Adress",
    "reporter_org": "Rapporterande organisation",
    "precision": "Precision",
    "municipality_code": "Kommunkod",
    "survey": "Enkät",
    "answered_at": "Besvarad",
    "rating": "Betyg",
    "reasons": "Orsaker",
    "time_of_day": "Tid på dygnet",
    "comment": "Kommentar",
    "age_band": "Åldersgrupp",
    "gender": "Kön",
    "name": "Namn",
    "case_number": "Diarienummer",
    "kind": "Typ",
    "status": "Status",
    "start_date": "Startdatum",
    "end_date": "Slutdatum",
    "code": "Kod",
}

_CODED: dict[str, dict[str, dict[str, domain.Label]]] = {
    "incidents": {"category": domain.INCIDENT_CATEGORIES, "precision": domain.PRECISIONS},
    "survey": {"time_of_day": domain.TIMES_OF_DAY},
    "projects": {"kind": domain.PROJECT_KINDS, "status": domain.PROJECT_STATUSES},
    "areas": {"kind": domain.AREA_KINDS},
}


def field_label(field: str, lang: str) -> str:
    """A field's label in ``lang`` (the key itself for a field without one)."""
    return translate(FIELD_LABELS[field], lang) if field in FIELD_LABELS else field


def value_labels(layer: str, columns: list[str], rows: list[list[Any]], lang: str) -> list[list]:
    """``rows`` (preview cells) with coded values as labels; survey reasons one by one."""
    coded = _CODED.get(layer, {})
    where = {i: coded[c] for i, c in enumerate(columns) if c in coded}
    reasons = columns.index("reasons") if layer == "survey" and "reasons" in columns else None
    out = []
    for row in rows:  # the preview's first rows only (PREVIEW_ROWS)
        row = list(row)
        for i, labels in where.items():
            if isinstance(row[i], str) and row[i] in labels:
                row[i] = labels[row[i]].get(lang)
        if reasons is not None and isinstance(row[reasons], str) and row[reasons]:
            row[reasons] = ", ".join(
                domain.SURVEY_REASONS[k].get(lang) if k in domain.SURVEY_REASONS else k
                for k in row[reasons].split(",")
            )
        out.append(row)
    return out
