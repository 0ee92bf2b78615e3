"""Service standards as data: one YAML file per office under `standards/`, validated at load.

Import from here: `load_registry(path)` gives a `StandardsRegistry` of `Agency` and
`ServiceStandard` objects; `find_agency_for_area` picks the office for a place.
"""

from __future__ import annotations

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
    PlaceName,
    StandardsRegistry,
    distance_km,
    load_registry,
    place_name,
)

__all__ = [
    "DEFAULT_COMPLAINT_RESPONSE",
    "Agency",
    "AreaMatch",
    "ComplaintChannel",
    "Contacts",
    "GeoPoint",
    "Jurisdiction",
    "OfficeHoursSpec",
    "PlaceName",
    "ProcedureTrack",
    "ReportCategory",
    "ServedArea",
    "ServiceStandard",
    "StandardsRegistry",
    "check_file",
    "distance_km",
    "files_in",
    "load_file",
    "load_registry",
    "place_name",
]
