"""Service standards as data: one YAML file per office under `standards/`, validated at load.

Import from here: `load_registry(path)` gives a `StandardsRegistry` of `Agency` and
`ServiceStandard` objects; `find_agency_for_area` picks the office for a place.
"""

from __future__ import annotations

from laporbot.standards.gazetteer import (
    Gazetteer,
    KabKota,
    PlaceName,
    Province,
    distance_km,
    load_gazetteer,
    place_name,
    shipped_gazetteer,
)
from laporbot.standards.loader import check_file, files_in, load_file
from laporbot.standards.models import (
    DEFAULT_COMPLAINT_RESPONSE,
    Agency,
    ComplaintChannel,
    Contacts,
    GeoPoint,
    Jurisdiction,
    OfficeHoursSpec,
    ProcedureTrack,
    ReportCategory,
    ServedArea,
    ServiceStandard,
)
from laporbot.standards.registry import (
    AreaMatch,
    StandardsRegistry,
    load_registry,
)

__all__ = [
    "DEFAULT_COMPLAINT_RESPONSE",
    "Agency",
    "AreaMatch",
    "ComplaintChannel",
    "Contacts",
    "Gazetteer",
    "GeoPoint",
    "Jurisdiction",
    "KabKota",
    "OfficeHoursSpec",
    "PlaceName",
    "ProcedureTrack",
    "Province",
    "ReportCategory",
    "ServedArea",
    "ServiceStandard",
    "StandardsRegistry",
    "check_file",
    "distance_km",
    "files_in",
    "load_file",
    "load_gazetteer",
    "load_registry",
    "place_name",
    "shipped_gazetteer",
]
