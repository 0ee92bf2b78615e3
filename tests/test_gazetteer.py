"""The gazetteer of provinces and kabupaten/kota, and the area look-ups that use it
(reviewer cases a, b, c of issue 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from laporbot.errors import StandardsError
from laporbot.paths import data_dir
from laporbot.standards import StandardsRegistry, load_registry
from laporbot.standards.gazetteer import (
    SHIPPED,
    load_gazetteer,
    parse_gazetteer,
    place_name,
    shipped_gazetteer,
)
from laporbot.standards.loader import files_in


@pytest.fixture(scope="module")
def registry() -> StandardsRegistry:
    return load_registry(data_dir("standards"))


# -- the shipped file ------------------------------------------------------------------------


def test_every_province_and_kabkota() -> None:
    gazetteer = shipped_gazetteer()
    assert len(gazetteer.provinces) == 38
    assert len(gazetteer) == 514
    names = [place.name for p in gazetteer.provinces for place in p.kabkota]
    assert sum(name.startswith("Kab. ") for name in names) == 416
    assert sum(name.startswith("Kota ") for name in names) == 98
    # Every capital has a point of its own, inside its province's list.
    for province in gazetteer.provinces:
        capital = gazetteer.find(province.capital, province.name)
        assert len(capital) == 1
        assert capital[0].own_point
        assert (capital[0].lat, capital[0].lon) == (province.lat, province.lon)


def test_every_office_area_is_in_the_gazetteer(registry: StandardsRegistry) -> None:
    gazetteer = shipped_gazetteer()
    for agency in registry.agencies:
        for area in agency.areas:
            assert gazetteer.province_of(area.kabupaten) == agency.jurisdiction.province, (
                agency.code,
                area.kabupaten,
            )


def test_look_ups() -> None:
    gazetteer = shipped_gazetteer()
    assert gazetteer.province_of("Kota Tanjungpinang") == "Kepulauan Riau"
    assert gazetteer.province_of("tanjungpinang") == "Kepulauan Riau"
    assert gazetteer.province_of("Kabupaten Lumajang") == "Jawa Timur"
    # "Serang" is a kabupaten and a kota, both in Banten; "Kota Serang" is one of them.
    assert len(gazetteer.find("Serang")) == 2
    assert gazetteer.province_of("Serang") == "Banten"
    assert len(gazetteer.find("Kota Serang")) == 1
    assert gazetteer.point_of("Kota Tanjungpinang") == (0.92, 104.45)
    # A kab/kota with no point of its own is placed at its province capital.
    assert gazetteer.point_of("Kab. Aceh Barat") == (5.55, 95.32)
    assert gazetteer.point_of("Riau") == (0.51, 101.45)
    assert gazetteer.province_of("Atlantis") is None
    assert gazetteer.point_of("Atlantis") is None


def test_the_loader_does_not_take_it_for_an_office(registry: StandardsRegistry) -> None:
    assert SHIPPED not in files_in(data_dir("standards"))
    assert not SHIPPED.is_relative_to(data_dir("standards"))
    assert len(registry.agencies) == 5


# -- refusals --------------------------------------------------------------------------------


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "gazetteer.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "where", "problem"),
    [
        (
            "      - Kab. Bintan: [1.06, 104.47]\n",
            "      - Kab. Bintan: [1.06, 104.47]\n      - Kab. Bintan\n",
            "provinces[9].kabkota[1]",
            "already listed in Kepulauan Riau",
        ),
        (
            "      - Kota Batam: [1.13, 104.05]\n",
            "      - Kota Batam: [104.05, 1.13]\n",
            "provinces[9].kabkota[5]",
            "outside Indonesia",
        ),
        (
            "      - Kab. Batu Bara\n",
            "      - Batu Bara\n",
            "provinces[1].kabkota[1]",
            "must start",
        ),
        (
            "  - name: Riau\n",
            "  - name: Jambi\n",
            "provinces[4].name",
            "province 'Jambi' listed twice",
        ),
        (
            "    capital: Kota Pekanbaru\n",
            "    capital: Kota Dumai Baru\n",
            "provinces[3].capital",
            "not one of the province's",
        ),
        ("    location: [0.51, 101.45]\n", "", "provinces[3].location", "missing field"),
        (
            "    location: [0.51, 101.45]\n",
            "    location: [0.51, 101.45]\n    island: Sumatera\n",
            "provinces[3].island",
            "unknown field",
        ),
        ("    location: [0.51, 101.45]\n", "    location: 0.51\n", "provinces[3].location", "[lat"),
    ],
)
def test_broken_gazetteer_is_refused(
    tmp_path: Path, old: str, new: str, where: str, problem: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(StandardsError) as raised:
        load_gazetteer(path)
    assert raised.value.file.endswith("gazetteer.yaml")
    assert raised.value.where == where
    assert problem in raised.value.problem


def test_not_a_gazetteer() -> None:
    with pytest.raises(StandardsError, match="one field, provinces"):
        parse_gazetteer("g.yaml", {"provinsi": []})
    with pytest.raises(StandardsError, match="non-empty list"):
        parse_gazetteer("g.yaml", {"provinces": []})


def test_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("provinces: [", encoding="utf-8")
    with pytest.raises(StandardsError, match="YAML syntax error"):
        load_gazetteer(path)
    with pytest.raises(StandardsError, match="cannot read"):
        load_gazetteer(tmp_path / "missing.yaml")


# -- routing ---------------------------------------------------------------------------------


def test_a_unlisted_kota_gets_its_provinces_office(registry: StandardsRegistry) -> None:
    # Reviewer case a: no province typed; the gazetteer knows Tanjungpinang is in Kepulauan
    # Riau, where Kab. Bintan's office is.
    match = registry.find_agency_for_area("Kota Tanjungpinang", category="anak_terlantar")
    assert match.status == "area_unserved"
    assert match.how == "same_province"
    assert match.province == "Kepulauan Riau"
    assert match.agency is not None
    assert match.agency.code == "dinsos-bintan"
    assert match.distance_km is not None
    assert 10 < match.distance_km < 40


def test_a_unlisted_place_elsewhere_gets_the_nearest_office(registry: StandardsRegistry) -> None:
    # No office in Papua: the nearest (to Jayapura's point) that handles "other".
    match = registry.find_agency_for_area("Kota Jayapura", category="other")
    assert match.status == "area_unserved"
    assert match.how == "nearest"
    assert match.agency is not None
    assert match.agency.code == "dinsospmd-babel"
    jakarta = registry.find_agency_for_area("Kota Jakarta Pusat")
    assert (jakarta.how, jakarta.agency and jakarta.agency.code) == ("nearest", "dinsos-banten")


def test_b_served_area_without_the_category(registry: StandardsRegistry) -> None:
    # Reviewer case b: Lumajang is served, but its office has no standard for the elderly.
    match = registry.find_agency_for_area(
        "Kab. Lumajang", "Sukodono", category="lansia_terlantar", lat=-8.13, lon=113.22
    )
    assert match.status == "category_unserved"
    assert match.local is not None
    assert match.local.code == "dinsosp3a-lumajang"
    assert match.agency is not None
    assert match.agency.code == "dinsospmd-babel"  # nearer than Riau's office
    assert match.how == "nearest"
    assert match.distance_km is not None
    assert 900 < match.distance_km < 1100
    # Without a pin, the gazetteer's point for Lumajang gives the same answer.
    typed = registry.find_agency_for_area("Lumajang", category="lansia_terlantar")
    assert typed.agency is not None
    assert typed.agency.code == "dinsospmd-babel"
    # From Pekanbaru (Riau serves the elderly) the nearest would be Riau itself: served.
    assert registry.find_agency_for_area("Kota Pekanbaru", category="lansia_terlantar").served


def test_b_category_no_office_has_stays_local(registry: StandardsRegistry) -> None:
    # Street children outside Lumajang: only Lumajang has the service; in Lumajang itself it
    # is served. In Riau, Riau's office serves the place; Lumajang is suggested.
    riau = registry.find_agency_for_area("Kota Dumai", category="anak_jalanan")
    assert riau.status == "category_unserved"
    assert riau.local is not None
    assert riau.local.code == "dinsos-riau"
    assert riau.agency is not None
    assert riau.agency.code == "dinsosp3a-lumajang"
    only = StandardsRegistry([registry.agency("dinsos-riau")])
    alone = only.find_agency_for_area("Kota Dumai", category="anak_jalanan")
    assert alone.status == "category_unserved"
    assert alone.how == "local"
    assert alone.agency is not None
    assert alone.agency.code == "dinsos-riau"


def test_c_kecamatan_spelling_suggestions(registry: StandardsRegistry) -> None:
    # Reviewer case c: the kabupaten is served; a misspelt kecamatan gets the closest listed.
    assert registry.kecamatan_suggestions("Kab Lumajang", "Sukodon")[0] == "Sukodono"
    assert "Tempeh" in registry.kecamatan_suggestions("Lumajang", "Tempe")
    assert registry.kecamatan_suggestions("Lumajang", "Sukodono") == []
    assert registry.kecamatan_suggestions("Lumajang", "zzzzzz") == []
    assert registry.kecamatan_suggestions("Kota Dumai", "Dumai Barat") == []
    match = registry.find_agency_for_area("Kab Lumajang", "lainnya")
    assert (match.status, match.how) == ("served", "same_kabupaten")


def test_no_office_at_all() -> None:
    empty = StandardsRegistry([])
    match = empty.find_agency_for_area("Kota Tanjungpinang")
    assert (match.status, match.agency, match.province) == ("no_office", None, "Kepulauan Riau")


def test_place_name_reduction() -> None:
    assert place_name("Kota Administrasi Jakarta Pusat") == place_name("Kota Jakarta Pusat")
    assert place_name("KAB. Tojo Una-Una").name == "tojo una una"
