"""All offices and standards of a deployment, and which office serves an area."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from laporbot.deadlines import due_time
from laporbot.errors import NotFound, StandardsError
from laporbot.standards.loader import display_name, load_files
from laporbot.standards.models import Agency, ReportCategory, ServiceStandard
from laporbot.workcalendar import WorkCalendar

_EARTH_RADIUS_KM = 6371.0088

# Prefixes people write before a regency or city name; "Kab. Bintan", "Kabupaten Bintan" and
# "bintan" are one place, while "Kota Serang" and "Kab. Serang" are two.
_PREFIXES = (
    ("kota administrasi", "kota"),
    ("kabupaten", "kab"),
    ("kab.", "kab"),
    ("kab", "kab"),
    ("kota", "kota"),
    ("provinsi", "prov"),
    ("prov.", "prov"),
    ("prov", "prov"),
    ("kecamatan", "kec"),
    ("kec.", "kec"),
    ("kec", "kec"),
)


@dataclass(frozen=True, slots=True)
class PlaceName:
    """A place name reduced for comparison: kind ("kab", "kota", ... or None) and plain name."""

    kind: str | None
    name: str

    def matches(self, other: PlaceName) -> bool:
        """Same name, and kinds agree where both are written."""
        if self.name != other.name:
            return False
        return self.kind is None or other.kind is None or self.kind == other.kind


def place_name(text: str) -> PlaceName:
    """Normalize a place name: case, spacing, punctuation and Kab./Kabupaten/Kota prefixes."""
    words = " ".join(text.lower().replace("-", " ").split())
    kind: str | None = None
    for prefix, prefix_kind in _PREFIXES:
        if words == prefix.rstrip("."):
            break
        if words.startswith(prefix + " ") or (prefix.endswith(".") and words.startswith(prefix)):
            kind = prefix_kind
            words = words[len(prefix) :]
            break
    plain = re.sub(r"[^0-9a-z ]+", "", words)
    return PlaceName(kind, " ".join(plain.split()))


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS84 points, in kilometres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@dataclass(frozen=True, slots=True)
class AreaMatch:
    """Which office answers for an area.

    `served` is True when the office's own area list covers it; otherwise `agency` is the
    suggested office (`how` says why: the kabupaten's office, whose kecamatan list lacks the
    one given; an office of the same province; the nearest by distance) or None.
    """

    served: bool
    agency: Agency | None
    how: Literal["served", "same_kabupaten", "same_province", "nearest", "none"]
    distance_km: float | None = None


class StandardsRegistry:
    """The agencies and standards loaded from a folder; lookups by code, category and area."""

    def __init__(self, agencies: list[Agency]) -> None:
        by_code: dict[str, Agency] = {}
        standards: dict[str, ServiceStandard] = {}
        for agency in agencies:
            if agency.code in by_code:
                raise StandardsError(agency.code, "code", "agency code used by two files")
            by_code[agency.code] = agency
            for standard in agency.standards:
                if standard.code in standards:
                    raise StandardsError(
                        agency.code, "standards", f"standard code {standard.code!r} used twice"
                    )
                standards[standard.code] = standard
        self._agencies = by_code
        self._standards = standards

    @property
    def agencies(self) -> tuple[Agency, ...]:
        """Every agency, in load order."""
        return tuple(self._agencies.values())

    @property
    def standards(self) -> tuple[ServiceStandard, ...]:
        """Every standard of every agency, in load order."""
        return tuple(self._standards.values())

    def agency(self, code: str) -> Agency:
        """The agency with `code`; raises `NotFound`."""
        try:
            return self._agencies[code]
        except KeyError:
            raise NotFound("agency", code) from None

    def standard(self, code: str) -> ServiceStandard:
        """The standard with `code`; raises `NotFound`."""
        try:
            return self._standards[code]
        except KeyError:
            raise NotFound("standard", code) from None

    def agency_of(self, standard: ServiceStandard | str) -> Agency:
        """The agency a standard (or standard code) belongs to."""
        code = standard if isinstance(standard, str) else standard.code
        return self.agency(self.standard(code).agency_code)

    def calendar(self, agency_code: str) -> WorkCalendar:
        """The working calendar of an agency."""
        return self.agency(agency_code).calendar()

    def standards_for(
        self, category: ReportCategory | str, agency_code: str | None = None
    ) -> list[ServiceStandard]:
        """Standards serving `category`, optionally only those of one agency."""
        wanted = ReportCategory(category)
        return [
            standard
            for standard in self._standards.values()
            if standard.serves(wanted)
            and (agency_code is None or standard.agency_code == agency_code)
        ]

    def due(self, standard_code: str, received: datetime) -> datetime:
        """When a case under `standard_code` received at `received` is due (aware, UTC)."""
        standard = self.standard(standard_code)
        return due_time(received, standard.completion, self.agency_of(standard).calendar())

    def complaint_due(self, standard_code: str, received: datetime) -> datetime:
        """When a complaint about `standard_code` received at `received` must be answered (UTC)."""
        standard = self.standard(standard_code)
        return due_time(received, standard.complaint_response, self.agency_of(standard).calendar())

    def _offers(self, agency: Agency, category: ReportCategory | str | None) -> bool:
        return category is None or any(s.serves(category) for s in agency.standards)

    def find_agency_for_area(
        self,
        kabupaten: str,
        kecamatan: str | None = None,
        *,
        province: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        category: ReportCategory | str | None = None,
    ) -> AreaMatch:
        """The office serving a kabupaten/kota (and kecamatan), or the nearest one that could help.

        Among offices whose area list covers the place, the most local wins (a kabupaten's own
        office before its province's). An office listing kecamatan covers only those; one that
        lists none covers the whole kabupaten/kota. For an unserved place, the suggestion is an
        office of the same `province` if given, else the nearest to (`lat`, `lon`) if given.
        With `category`, only offices having a standard for it are considered.
        """
        kab = place_name(kabupaten)
        kec = place_name(kecamatan) if kecamatan else None
        candidates: list[tuple[int, Agency]] = []
        same_kabupaten: Agency | None = None
        for agency in self._agencies.values():
            if not self._offers(agency, category):
                continue
            for area in agency.areas:
                if not place_name(area.kabupaten).matches(kab):
                    continue
                if (
                    area.kecamatan
                    and kec is not None
                    and not any(place_name(k).matches(kec) for k in area.kecamatan)
                ):
                    # Most likely a misspelt kecamatan or a village named instead: the
                    # kabupaten's own office is still the one to suggest.
                    same_kabupaten = same_kabupaten or agency
                    continue
                rank = 0 if agency.jurisdiction.level != "provinsi" else 1
                candidates.append((rank, agency))
                break
        if candidates:
            candidates.sort(key=lambda item: item[0])
            return AreaMatch(True, candidates[0][1], "served")
        if same_kabupaten is not None:
            return AreaMatch(False, same_kabupaten, "same_kabupaten")
        if province is not None:
            wanted = place_name(province)
            same = [
                a
                for a in self._agencies.values()
                if self._offers(a, category) and place_name(a.jurisdiction.province).matches(wanted)
            ]
            if same:
                # The provincial office first: it is the one that takes referrals from its
                # whole province.
                same.sort(key=lambda a: a.jurisdiction.level != "provinsi")
                return AreaMatch(False, same[0], "same_province")
        if lat is not None and lon is not None:
            nearest = self.nearest_agency(lat, lon, category)
            if nearest is not None:
                agency, km = nearest
                return AreaMatch(False, agency, "nearest", km)
        return AreaMatch(False, None, "none")

    def kabupaten_names(self, category: ReportCategory | str | None = None) -> list[str]:
        """Every kabupaten/kota some office serves, as the files write them (for menus)."""
        names = {
            area.kabupaten
            for agency in self._agencies.values()
            if self._offers(agency, category)
            for area in agency.areas
        }
        return sorted(names, key=lambda name: place_name(name).name)

    def kecamatan_names(self, kabupaten: str) -> list[str]:
        """The kecamatan listed for `kabupaten` (empty when offices serve it whole)."""
        wanted = place_name(kabupaten)
        names = {
            kecamatan
            for agency in self._agencies.values()
            for area in agency.areas
            if place_name(area.kabupaten).matches(wanted)
            for kecamatan in area.kecamatan
        }
        return sorted(names)

    def nearest_agency(
        self, lat: float, lon: float, category: ReportCategory | str | None = None
    ) -> tuple[Agency, float] | None:
        """The agency whose representative point is closest to (lat, lon), with the distance."""
        best: tuple[Agency, float] | None = None
        for agency in self._agencies.values():
            if not self._offers(agency, category):
                continue
            km = distance_km(lat, lon, agency.location.lat, agency.location.lon)
            if best is None or km < best[1]:
                best = (agency, km)
        return best


def load_registry(path: Path) -> StandardsRegistry:
    """Load every standards file of a folder (or one file); raises `StandardsError`."""
    agencies: list[Agency] = []
    seen: dict[str, Path] = {}
    codes: dict[str, Path] = {}
    for file, agency in load_files(path):
        if agency.code in seen:
            raise StandardsError(
                display_name(file),
                "code",
                f"agency code {agency.code!r} already used by {display_name(seen[agency.code])}",
            )
        seen[agency.code] = file
        for index, standard in enumerate(agency.standards):
            if standard.code in codes:
                raise StandardsError(
                    display_name(file),
                    f"standards[{index}].code",
                    f"standard code {standard.code!r} already used by "
                    f"{display_name(codes[standard.code])}",
                )
            codes[standard.code] = file
        agencies.append(agency)
    return StandardsRegistry(agencies)
