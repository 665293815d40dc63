"""The store: one schema on SQLite (default) and PostgreSQL/PostGIS, behind one interface.

>>> db = Database(load_settings())            # engine chosen by TRYGGKARTA_DATABASE_URL
>>> db.upgrade()                              # alembic upgrade head
>>> with db.session() as s:                   # one transaction
...     ds = Dataset(layer="incidents", name="EST v47", checksum="…"); s.add(ds); s.flush()
...     insert_layer(s, "incidents", gdf, ds.id)
>>> layer_frame(db, "incidents", Filters(categories=("klotter",)))   # GeoDataFrame, EPSG:<crs>
>>> grid_counts(db, "incidents", GridSpec(x0, y0, 250, nx, ny))     # SQL GROUP BY, (ny, nx)
"""

from tryggkarta.store.engine import Database, check_schema, make_engine
from tryggkarta.store.grid import GridSpec, grid_counts, grid_counts_by
from tryggkarta.store.models import (
    LAYER_MODELS,
    POINT_LAYERS,
    AnalysisRun,
    ApiToken,
    Area,
    AuditLog,
    Base,
    Dataset,
    Decision,
    EstGroup,
    EstGroupMember,
    ExportRun,
    ExportSchedule,
    Incident,
    Intervention,
    Organisation,
    Place,
    Project,
    ProjectMeasure,
    Promise,
    PromiseActivity,
    PromiseCommitment,
    SharedMap,
    SurveyCampaign,
    SurveyResponse,
    User,
)
from tryggkarta.store.queries import (
    Filters,
    category_counts,
    count,
    dataset_versions,
    extent,
    layer_frame,
    time_range,
)
from tryggkarta.store.writes import audit, delete_dataset, insert_layer

__all__ = [
    "LAYER_MODELS",
    "POINT_LAYERS",
    "AnalysisRun",
    "ApiToken",
    "Area",
    "AuditLog",
    "Base",
    "Database",
    "Dataset",
    "Decision",
    "EstGroup",
    "EstGroupMember",
    "ExportRun",
    "ExportSchedule",
    "Filters",
    "GridSpec",
    "Incident",
    "Intervention",
    "Organisation",
    "Place",
    "Project",
    "ProjectMeasure",
    "Promise",
    "PromiseActivity",
    "PromiseCommitment",
    "SharedMap",
    "SurveyCampaign",
    "SurveyResponse",
    "User",
    "audit",
    "category_counts",
    "check_schema",
    "count",
    "dataset_versions",
    "delete_dataset",
    "extent",
    "grid_counts",
    "grid_counts_by",
    "insert_layer",
    "layer_frame",
    "make_engine",
    "time_range",
]
