"""All offices and standards of a deployment, and which office serves an area."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from laporbot.deadlines import due_time
from laporbot.errors import NotFound, StandardsError
from laporbot.standards.gazetteer import (
    Gazetteer,
    data_place_name,
    distance_km,
    place_name,
    shipped_gazetteer,
)
from laporbot.standards.loader import display_name, load_files
from laporbot.standards.models import Agency, ReportCategory, ServiceStandard
from laporbot.workcalendar import WorkCalendar

AreaStatus = Literal["served", "area_unserved", "category_unserved", "no_office"]


@dataclass(frozen=True, slots=True)
class AreaMatch:
    """Which office answers for a place, and why.

    `status`:
    - `served`: `agency` lists the place (an unlisted kecamatan of a kabupaten it lists still
      counts: `how` is then "same_kabupaten") and has a standard for the category.
    - `category_unserved`: `local` serves the place but has no standard for the category;
      `agency` is the office suggested instead (nearest that has one), or `local` itself when
      no office has one (it takes the report and refers it).
    - `area_unserved`: no office lists the place; `agency` is the suggested office.
    - `no_office`: nothing to suggest (`agency` is None).

    `how` says how `agency` was chosen: "served", "same_kabupaten", "same_province" (an office
    of the place's province: typed, or from the gazetteer), "nearest" (by distance from the
    pin, or from the gazetteer's point of the place), "local" or "none". `province` is the
    place's province when known.
    """

    status: AreaStatus
    agency: Agency | None
    how: Literal["served", "same_kabupaten", "same_province", "nearest", "local", "none"]
    distance_km: float | None = None
    local: Agency | None = None
    province: str | None = None

    @property
    def served(self) -> bool:
        """The office found serves the place and the category."""
        return self.status == "served"


class StandardsRegistry:
    """The agencies and standards loaded from a folder; lookups by code, category and area."""

    def __init__(self, agencies: list[Agency], gazetteer: Gazetteer | None = None) -> None:
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
        # Read (and checked) at start: a broken file is a set-up error, not a failed report.
        self.gazetteer = gazetteer if gazetteer is not None else shipped_gazetteer()

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
        """The office serving a kabupaten/kota (and kecamatan), or the one to suggest.

        Among offices whose area list covers the place, the most local wins (a kabupaten's own
        office before its province's). An office listing kecamatan covers those first; a
        kecamatan it does not list (misspelt, a village, "other") still goes to it. With
        `category`, an office covering the place but lacking a standard for it gives
        `category_unserved`. Suggestions are offices having the category: of the place's
        province first (typed, else from the gazetteer; the provincial office before the
        nearest), else the nearest to the pin (`lat`, `lon`) or to the gazetteer's point.
        """
        kab = place_name(kabupaten)
        kec = place_name(kecamatan) if kecamatan else None
        covering: list[tuple[int, Agency]] = []
        for agency in self._agencies.values():
            for area in agency.areas:
                if not data_place_name(area.kabupaten).matches(kab):
                    continue
                listed = not area.kecamatan or (
                    kec is not None and any(data_place_name(k).matches(kec) for k in area.kecamatan)
                )
                rank = 0 if agency.jurisdiction.level != "provinsi" else 1
                covering.append((rank if listed or kec is None else rank + 2, agency))
                break
        covering.sort(key=lambda item: item[0])
        offering = [(rank, a) for rank, a in covering if self._offers(a, category)]
        gazetteer_province = self.gazetteer.province_of(kabupaten, province)
        if gazetteer_province is None and self.gazetteer.province(kabupaten) is not None:
            gazetteer_province = kabupaten  # a lone province name ("Riau")
        where = gazetteer_province or province
        if offering:
            rank, agency = offering[0]
            how: Literal["served", "same_kabupaten"] = "served" if rank < 2 else "same_kabupaten"
            return AreaMatch("served", agency, how, province=where)
        point = (lat, lon) if lat is not None and lon is not None else None
        if point is None:
            point = self.gazetteer.point_of(kabupaten, province)
        local = covering[0][1] if covering else None
        suggestion = self._suggest(category, where, point, exclude=local)
        if local is not None:
            if suggestion is None:
                return AreaMatch("category_unserved", local, "local", local=local, province=where)
            agency, found_how, km = suggestion
            return AreaMatch("category_unserved", agency, found_how, km, local, where)
        if suggestion is None:
            return AreaMatch("no_office", None, "none", province=where)
        agency, found_how, km = suggestion
        return AreaMatch("area_unserved", agency, found_how, km, province=where)

    def _suggest(
        self,
        category: ReportCategory | str | None,
        province: str | None,
        point: tuple[float, float] | None,
        exclude: Agency | None,
    ) -> tuple[Agency, Literal["same_province", "nearest"], float | None] | None:
        """The office to suggest for a place no office serves (for this category)."""
        able = [
            a for a in self._agencies.values() if a is not exclude and self._offers(a, category)
        ]

        def km(agency: Agency) -> float | None:
            if point is None:
                return None
            return distance_km(point[0], point[1], agency.location.lat, agency.location.lon)

        if province is not None:
            wanted = place_name(province)
            same = [a for a in able if data_place_name(a.jurisdiction.province).matches(wanted)]
            if same:
                # The provincial office first (it takes referrals from its whole province),
                # then the nearest.
                same.sort(key=lambda a: (a.jurisdiction.level != "provinsi", km(a) or 0.0))
                return same[0], "same_province", km(same[0])
        if point is not None and able:
            nearest = min(able, key=lambda a: km(a) or 0.0)
            return nearest, "nearest", km(nearest)
        return None

    def kecamatan_listed(self, kabupaten: str, kecamatan: str) -> str | None:
        """The listed spelling of `kecamatan` in `kabupaten` ("pasrujambe" -> "Pasrujambe")."""
        wanted = place_name(kecamatan)
        for name in self.kecamatan_names(kabupaten):
            if data_place_name(name).matches(wanted):
                return name
        return None

    def kecamatan_suggestions(self, kabupaten: str, kecamatan: str, limit: int = 3) -> list[str]:
        """The listed kecamatan of `kabupaten` closest in spelling to `kecamatan` (best first);
        empty when it is listed or the kabupaten lists none."""
        names = self.kecamatan_names(kabupaten)
        wanted = place_name(kecamatan)
        if not names or any(data_place_name(n).matches(wanted) for n in names):
            return []
        reduced = {data_place_name(n).name: n for n in names}
        close = difflib.get_close_matches(wanted.name, list(reduced), n=limit, cutoff=0.6)
        return [reduced[c] for c in close]

    def kabupaten_names(self, category: ReportCategory | str | None = None) -> list[str]:
        """Every kabupaten/kota some office serves, as the files write them (for menus)."""
        names = {
            area.kabupaten
            for agency in self._agencies.values()
            if self._offers(agency, category)
            for area in agency.areas
        }
        return sorted(names, key=lambda name: data_place_name(name).name)

    def kecamatan_names(self, kabupaten: str) -> list[str]:
        """The kecamatan listed for `kabupaten` (empty when offices serve it whole)."""
        wanted = place_name(kabupaten)
        names = {
            kecamatan
            for agency in self._agencies.values()
            for area in agency.areas
            if data_place_name(area.kabupaten).matches(wanted)
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
