"""Indonesia's provinces and kabupaten/kota: which province a place is in, and roughly where.

The shipped file `laporbot/data/indonesia-kabkota.yaml` lists all 38 provinces and 514
kabupaten/kota. Offices list only the areas they serve; this tells the registry the province
and a point for any other place a citizen names, so an unserved place still gets the nearest
office of its province. Validated at load: a broken file is refused naming file, field, problem.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from laporbot.errors import StandardsError
from laporbot.standards.loader import display_name

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "indonesia-kabkota.yaml"

# Indonesia's bounding box, with a margin: catches a swapped or mistyped coordinate.
_LAT = (-12.0, 7.0)
_LON = (94.0, 142.0)

_EARTH_RADIUS_KM = 6371.0088

# libyaml's parser when PyYAML was built with it (the same safe types, about four times faster
# on the shipped file of about 700 lines, which is read at every start).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

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


_NOT_PLAIN = re.compile(r"[^0-9a-z ]+")


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
    plain = _NOT_PLAIN.sub("", words)
    return PlaceName(kind, " ".join(plain.split()))


@cache
def data_place_name(text: str) -> PlaceName:
    """`place_name` of a name from a data file (an office's areas, the gazetteer), remembered:
    look-ups reduce the offices' area lists again and again. Never for what a citizen typed
    (that would keep their words in memory): use `place_name`."""
    return place_name(text)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS84 points, in kilometres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@dataclass(frozen=True, slots=True)
class KabKota:
    """One kabupaten/kota: its name as written ("Kab. Bintan"), province and a point.

    `own_point` is False when the file gives no point of its own and the province capital's
    is used.
    """

    name: str
    province: str
    lat: float
    lon: float
    own_point: bool


@dataclass(frozen=True, slots=True)
class Province:
    """A province, its capital's point and its kabupaten/kota."""

    name: str
    capital: str
    lat: float
    lon: float
    kabkota: tuple[KabKota, ...]


class Gazetteer:
    """Look-ups by place name (prefixes, case and punctuation ignored, as `place_name`)."""

    def __init__(self, provinces: list[Province]) -> None:
        self.provinces = tuple(provinces)
        self._by_name: dict[str, list[KabKota]] = {}
        self._provinces: dict[str, Province] = {}
        for province in provinces:
            self._provinces[place_name(province.name).name] = province
            for place in province.kabkota:
                self._by_name.setdefault(place_name(place.name).name, []).append(place)

    def __len__(self) -> int:
        return sum(len(p.kabkota) for p in self.provinces)

    def find(self, text: str, province: str | None = None) -> list[KabKota]:
        """The kabupaten/kota `text` may name ("Kota Serang" one, "Serang" both), narrowed to
        `province` when that leaves any."""
        wanted = place_name(text)
        found = [
            place
            for place in self._by_name.get(wanted.name, [])
            if data_place_name(place.name).matches(wanted)
        ]
        if province is not None:
            inside = [p for p in found if data_place_name(p.province).matches(place_name(province))]
            found = inside or found
        return found

    def province(self, text: str) -> Province | None:
        """The province `text` names ("Riau", "Prov. Jawa Timur"), or None."""
        return self._provinces.get(place_name(text).name)

    def province_of(self, text: str, province: str | None = None) -> str | None:
        """The province of the kabupaten/kota `text`, when the name leaves no doubt."""
        names = {place.province for place in self.find(text, province)}
        return names.pop() if len(names) == 1 else None

    def point_of(self, text: str, province: str | None = None) -> tuple[float, float] | None:
        """A point for `text`: the kab/kota's own, else its province capital's; a lone
        province name gives its capital's. None when unknown or ambiguous."""
        found = self.find(text, province)
        points = {(place.lat, place.lon) for place in found}
        if len(points) == 1:
            return points.pop()
        if not found:
            named = self.province(text)
            if named is not None:
                return named.lat, named.lon
        return None


def _where(*parts: str | int) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _point(file: str, where: str, value: Any) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise StandardsError(file, where, f"expected [lat, lon] in degrees, got {value!r}")
    lat, lon = float(value[0]), float(value[1])
    if not (_LAT[0] <= lat <= _LAT[1] and _LON[0] <= lon <= _LON[1]):
        raise StandardsError(
            file, where, f"[{lat}, {lon}] is outside Indonesia (lat then lon, in degrees)"
        )
    return lat, lon


def _name(file: str, where: str, value: Any, kinds: tuple[str, ...]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StandardsError(file, where, f"expected a name, got {value!r}")
    if kinds and not value.startswith(kinds):
        raise StandardsError(
            file, where, f"name must start with {' or '.join(kinds)!s}, got {value!r}"
        )
    return value


def parse_gazetteer(file: str, data: Any) -> Gazetteer:
    """Validate parsed YAML into a `Gazetteer`; raises `StandardsError(file, field, problem)`."""
    if not isinstance(data, dict) or set(data) != {"provinces"}:
        raise StandardsError(file, "(file)", "expected a mapping with one field, provinces")
    items = data["provinces"]
    if not isinstance(items, list) or not items:
        raise StandardsError(file, "provinces", "expected a non-empty list of provinces")
    provinces: list[Province] = []
    seen_provinces: set[str] = set()
    seen: dict[PlaceName, str] = {}
    for index, item in enumerate(items):
        where = _where("provinces", index)
        if not isinstance(item, dict):
            raise StandardsError(file, where, "expected a mapping of province fields")
        for key in ("name", "capital", "location", "kabkota"):
            if key not in item:
                raise StandardsError(file, _where("provinces", index, key), "missing field")
        extra = sorted(set(item) - {"name", "capital", "location", "kabkota"})
        if extra:
            raise StandardsError(file, _where("provinces", index, extra[0]), "unknown field")
        name = _name(file, _where("provinces", index, "name"), item["name"], ())
        key = place_name(name).name
        if key in seen_provinces:
            raise StandardsError(
                file, _where("provinces", index, "name"), f"province {name!r} listed twice"
            )
        seen_provinces.add(key)
        capital = _name(file, _where("provinces", index, "capital"), item["capital"], ())
        lat, lon = _point(file, _where("provinces", index, "location"), item["location"])
        entries = item["kabkota"]
        if not isinstance(entries, list) or not entries:
            raise StandardsError(
                file, _where("provinces", index, "kabkota"), "expected a non-empty list"
            )
        places: list[KabKota] = []
        reduced_places: list[PlaceName] = []
        for number, entry in enumerate(entries):
            at = _where("provinces", index, "kabkota", number)
            point: tuple[float, float] | None = None
            if isinstance(entry, dict):
                if len(entry) != 1:
                    raise StandardsError(file, at, "expected 'Name' or 'Name: [lat, lon]'")
                entry, value = next(iter(entry.items()))
                point = _point(file, at, value)
            place = _name(file, at, entry, ("Kab. ", "Kota "))
            reduced = place_name(place)
            if reduced in seen:
                raise StandardsError(file, at, f"{place!r} already listed in {seen[reduced]}")
            seen[reduced] = name
            reduced_places.append(reduced)
            own = point is not None
            plat, plon = point if point is not None else (lat, lon)
            places.append(KabKota(place, name, plat, plon, own))
        reduced_capital = place_name(capital)
        if not any(reduced.matches(reduced_capital) for reduced in reduced_places):
            raise StandardsError(
                file,
                _where("provinces", index, "capital"),
                f"capital {capital!r} is not one of the province's kabupaten/kota",
            )
        provinces.append(Province(name, capital, lat, lon, tuple(places)))
    return Gazetteer(provinces)


def load_gazetteer(path: Path = SHIPPED) -> Gazetteer:
    """Read and validate a gazetteer file; raises `StandardsError`."""
    file = display_name(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # a safe loader
    except (OSError, UnicodeDecodeError) as exc:
        raise StandardsError(file, "(file)", f"cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise StandardsError(file, "(file)", f"YAML syntax error: {exc}") from exc
    return parse_gazetteer(file, data)


@cache
def shipped_gazetteer() -> Gazetteer:
    """The gazetteer shipped with laporbot (read once)."""
    return load_gazetteer(SHIPPED)
