"""Service-standard files: the five shipped offices, the schema's refusals, area matching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from laporbot.errors import NotFound, StandardsError
from laporbot.paths import data_dir
from laporbot.standards import (
    ReportCategory,
    StandardsRegistry,
    check_file,
    load_file,
    load_registry,
    place_name,
)

SHIPPED = data_dir("standards")
SEEDS = Path(__file__).parent / "data" / "standards_seeds"


@pytest.fixture(scope="module")
def registry() -> StandardsRegistry:
    return load_registry(SHIPPED)


# -- the shipped data -----------------------------------------------------------------------


def test_five_offices_one_file_each(registry: StandardsRegistry) -> None:
    assert sorted(p.name for p in SHIPPED.glob("*.yaml")) == [
        "kab-bintan.yaml",
        "kab-lumajang.yaml",
        "prov-banten.yaml",
        "prov-kep-bangka-belitung.yaml",
        "prov-riau.yaml",
    ]
    assert {a.code for a in registry.agencies} == {
        "dinsos-bintan",
        "dinsos-riau",
        "dinsos-banten",
        "dinsospmd-babel",
        "dinsosp3a-lumajang",
    }
    assert {a.time_zone for a in registry.agencies} == {"Asia/Jakarta"}


@pytest.mark.parametrize(
    ("code", "completion", "note", "legal_basis", "steps"),
    [
        ("bintan-rehab-anak", "3 Bulan", "1 - 3 bulan masa pelayanan", "107 TAHUN 2022", [11]),
        (
            "riau-penyerahan-anak-lansia",
            "7 Hari",
            "Minimal 7 (tiga) hari sejak diterimanya Berkas Kasus Anak. "
            "(Waktu Penyelesaian tergantung dari kasus yang terjadi).",
            "Kpts.45/DINSOS/V/2021",
            [10],
        ),
        (
            "banten-rehab-anak-terlantar",
            "1 Tahun",
            "1 (satu) Tahun Berjalan",
            "188.4/174-Dinsos/2024",
            [6],
        ),
        ("babel-rehab-orang-terlantar", "7 Hari", None, "188.4/47/DINSOSPMD/2023", [6, 6]),
        ("lumajang-rekomendasi-anak", "1 Hari kerja", None, "188.4/329/427.64/2022", [7]),
    ],
)
def test_seed_standards(
    registry: StandardsRegistry,
    code: str,
    completion: str,
    note: str | None,
    legal_basis: str,
    steps: list[int],
) -> None:
    standard = registry.standard(code)
    assert standard.completion_time == completion
    assert standard.completion_note == note
    assert standard.legal_basis == legal_basis
    assert [len(track.steps) for track in standard.procedure] == steps
    assert standard.cost == "Tidak dipungut biaya"
    assert standard.complaint_response_time == "2x24 jam"
    assert registry.agency_of(standard).code == standard.agency_code


def test_bangka_belitung_keeps_two_named_tracks(registry: StandardsRegistry) -> None:
    tracks = registry.standard("babel-rehab-orang-terlantar").procedure
    assert [t.name for t in tracks] == ["A", "B"]
    assert tracks[0].title == "Klien Rujukan Dinsos Kab / Kota / Daerah Lain"
    assert tracks[1].steps[0] == (
        "Menerima Surat Permohonan dari Pelapor atau Surat Pengantar dari Instansi Lain"
    )
    assert len(tracks[0].requirements) == 3
    assert len(tracks[1].requirements) == 1


def _normal(text: str) -> str:
    text = text.replace("\\", "")
    return " ".join(text.split())


def test_text_is_transcribed_word_for_word_from_the_seeds(registry: StandardsRegistry) -> None:
    # Every requirement, step, product, title, note and cost appears verbatim in its seed.
    checked = 0
    for file in sorted(SHIPPED.glob("*.yaml")):
        agency = load_file(file)
        seed = _normal((SEEDS / f"{file.stem}.txt").read_text(encoding="utf-8"))
        for standard in agency.standards:
            texts = [
                standard.title,
                standard.legal_basis,
                standard.completion_time,
                standard.cost,
                *standard.requirements,
                *standard.products,
                *standard.complaint_notes,
                *([standard.completion_note] if standard.completion_note else []),
            ]
            for track in standard.procedure:
                texts += [*track.steps, *track.requirements]
                texts += [track.title] if track.title else []
            for text in texts:
                assert _normal(text) in seed, f"{file.name}: not in the seed: {text!r}"
                checked += 1
        assert _normal(agency.parent) in seed
    assert checked > 80


def test_areas_served(registry: StandardsRegistry) -> None:
    def counts(code: str) -> tuple[int, int]:
        areas = registry.agency(code).areas
        return len(areas), sum(len(a.kecamatan) for a in areas)

    assert counts("dinsosp3a-lumajang") == (1, 21)
    assert counts("dinsos-bintan") == (1, 10)
    assert counts("dinsos-riau") == (12, 0)
    assert counts("dinsos-banten") == (8, 0)
    assert counts("dinsospmd-babel") == (7, 0)


def test_lookups_by_code_and_category(registry: StandardsRegistry) -> None:
    assert [s.code for s in registry.standards_for("anak_jalanan")] == ["lumajang-rekomendasi-anak"]
    assert {s.code for s in registry.standards_for(ReportCategory.LANSIA_TERLANTAR)} == {
        "riau-penyerahan-anak-lansia",
        "babel-rehab-orang-terlantar",
    }
    assert len(registry.standards_for("anak_terlantar")) == 5
    assert registry.standards_for("anak_terlantar", agency_code="dinsos-riau")[0].code == (
        "riau-penyerahan-anak-lansia"
    )
    with pytest.raises(NotFound):
        registry.standard("nope")
    with pytest.raises(NotFound):
        registry.agency("nope")
    with pytest.raises(ValueError, match="bogus"):
        registry.standards_for("bogus")


def test_calendar_of_an_agency(registry: StandardsRegistry) -> None:
    calendar = registry.calendar("dinsosp3a-lumajang")
    assert calendar.time_zone == "Asia/Jakarta"
    assert calendar.office_hours.weekdays == frozenset(range(5))


# -- area matching --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("Kab. Lumajang", "kab", "lumajang"),
        ("Kabupaten  Lumajang", "kab", "lumajang"),
        ("kab lumajang", "kab", "lumajang"),
        ("Kab.Lumajang", "kab", "lumajang"),
        ("LUMAJANG", None, "lumajang"),
        ("Kota Tangerang Selatan", "kota", "tangerang selatan"),
        ("Kec. Seri Kuala Lobam", "kec", "seri kuala lobam"),
        ("Kota", None, "kota"),
    ],
)
def test_place_names(text: str, kind: str | None, name: str) -> None:
    assert place_name(text) == (place_name(text).__class__(kind, name))


@pytest.mark.parametrize(
    ("kabupaten", "kecamatan", "agency"),
    [
        ("Kabupaten Lumajang", "Kec. Tempeh", "dinsosp3a-lumajang"),
        ("kab lumajang", None, "dinsosp3a-lumajang"),
        ("LUMAJANG", "pasrujambe", "dinsosp3a-lumajang"),
        ("Kab. Bintan", "Seri  Kuala Lobam", "dinsos-bintan"),
        ("Kota Pekanbaru", None, "dinsos-riau"),
        ("Kepulauan Meranti", "Tebing Tinggi", "dinsos-riau"),
        ("Kota Serang", None, "dinsos-banten"),
        ("Kabupaten Serang", None, "dinsos-banten"),
        ("Kota Pangkalpinang", None, "dinsospmd-babel"),
        ("Kab. Belitung Timur", None, "dinsospmd-babel"),
    ],
)
def test_served_areas(
    registry: StandardsRegistry, kabupaten: str, kecamatan: str | None, agency: str
) -> None:
    match = registry.find_agency_for_area(kabupaten, kecamatan)
    assert match.served
    assert match.how == "served"
    assert match.agency is not None
    assert match.agency.code == agency


def test_unserved_area_same_province(registry: StandardsRegistry) -> None:
    match = registry.find_agency_for_area("Kota Tanjungpinang", province="Kepulauan Riau")
    assert not match.served
    assert match.how == "same_province"
    assert match.agency is not None
    assert match.agency.code == "dinsos-bintan"
    surabaya = registry.find_agency_for_area("Kota Surabaya", province="Prov. Jawa Timur")
    assert surabaya.agency is not None
    assert surabaya.agency.code == "dinsosp3a-lumajang"


def test_unknown_kecamatan_goes_to_the_kabupatens_office(registry: StandardsRegistry) -> None:
    # The kabupaten is served: an unlisted kecamatan (misspelt, a village, "lainnya") does not
    # make the place unserved; the kabupaten's office takes it.
    match = registry.find_agency_for_area("Kab Lumajang", "Tempe")
    assert match.status == "served"
    assert match.how == "same_kabupaten"
    assert match.agency is not None
    assert match.agency.code == "dinsosp3a-lumajang"


def test_place_menus(registry: StandardsRegistry) -> None:
    names = registry.kabupaten_names()
    assert len(names) == 1 + 1 + 12 + 8 + 7
    assert names[:2] == ["Kab. Bangka", "Kab. Bangka Barat"]
    assert registry.kabupaten_names("anak_jalanan") == ["Kab. Lumajang"]
    assert len(registry.kecamatan_names("Kabupaten Lumajang")) == 21
    assert "Toapaya" in registry.kecamatan_names("bintan")
    assert registry.kecamatan_names("Kota Dumai") == []


def test_unserved_area_nearest_by_distance(registry: StandardsRegistry) -> None:
    # Jakarta is closest to Banten's point; Batam to Bintan's.
    jakarta = registry.find_agency_for_area("Kota Jakarta Pusat", lat=-6.18, lon=106.83)
    assert jakarta.how == "nearest"
    assert jakarta.agency is not None
    assert jakarta.agency.code == "dinsos-banten"
    assert jakarta.distance_km is not None
    assert 50 < jakarta.distance_km < 120
    batam = registry.nearest_agency(1.13, 104.05)
    assert batam is not None
    assert batam[0].code == "dinsos-bintan"


def test_category_limits_the_offices(registry: StandardsRegistry) -> None:
    # Only Lumajang has a standard for street children.
    riau = registry.find_agency_for_area(
        "Kota Pekanbaru", category="anak_jalanan", lat=0.5, lon=101.4
    )
    assert not riau.served
    assert riau.agency is not None
    assert riau.agency.code == "dinsosp3a-lumajang"
    nearest = registry.nearest_agency(0.5, 101.4, "anak_jalanan")
    assert nearest is not None
    assert nearest[0].code == "dinsosp3a-lumajang"
    assert registry.find_agency_for_area("Kota Pekanbaru", category="anak_terlantar").served


def test_nothing_known(registry: StandardsRegistry) -> None:
    # A name neither an office nor the gazetteer knows, with no pin: nothing to suggest.
    match = registry.find_agency_for_area("Kota Atlantis")
    assert (match.served, match.agency, match.how) == (False, None, "none")
    assert match.status == "no_office"


# -- refusals -------------------------------------------------------------------------------


def _broken(tmp_path: Path, old: str, new: str, name: str = "x.yaml") -> Path:
    text = (SHIPPED / "kab-lumajang.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _only_error(path: Path) -> StandardsError:
    errors = check_file(path)
    assert len(errors) == 1, errors
    with pytest.raises(StandardsError) as caught:
        load_file(path)
    assert str(caught.value) == str(errors[0])
    return errors[0]


def test_unknown_duration_form(tmp_path: Path) -> None:
    path = _broken(tmp_path, "completion_time: 1 Hari kerja", "completion_time: 3 minggu lagi")
    error = _only_error(path)
    assert error.where == "standards[0].completion_time"
    assert re.fullmatch(
        r".*x\.yaml: standards\[0\]\.completion_time: "
        r"unknown duration form '3 minggu lagi' \(line \d+\)",
        str(error),
    )


def test_missing_field(tmp_path: Path) -> None:
    path = _broken(tmp_path, "    legal_basis: 188.4/329/427.64/2022\n", "")
    error = _only_error(path)
    assert error.where == "standards[0].legal_basis"
    assert "missing field" in error.problem


def test_procedure_without_steps(tmp_path: Path) -> None:
    text = (SHIPPED / "kab-lumajang.yaml").read_text(encoding="utf-8")
    start = text.index("    procedure:\n")
    end = text.index("    completion_time:")
    path = tmp_path / "x.yaml"
    path.write_text(text[:start] + "    procedure:\n      - steps: []\n" + text[end:])
    error = _only_error(path)
    assert error.where == "standards[0].procedure[0].steps"
    assert "procedure has no steps" in error.problem
    path.write_text(text[:start] + "    procedure: []\n" + text[end:])
    assert _only_error(path).where == "standards[0].procedure"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _broken(tmp_path, '  end: "16:00"', '  end: "16:00\n  oops: [')
    error = _only_error(path)
    assert error.where.startswith("line ")
    assert "YAML syntax error" in error.problem


@pytest.mark.parametrize(
    ("old", "new", "where", "problem"),
    [
        ("time_zone: Asia/Jakarta", "time_zone: Asia/Lumajang", "time_zone", "unknown IANA"),
        ("code: dinsosp3a-lumajang", "code: Dinsos Lumajang", "code", "pattern"),
        (
            "categories: [anak_jalanan,",
            "categories: [anak_hilang,",
            "standards[0].categories[0]",
            "anak_hilang",
        ),
        ('  start: "08:00"', '  start: "17:00"', "office_hours", "open before they close"),
        (
            "    complaint_response_time: 2x24 jam",
            "    complaint_response_time: 2 hari kerja",
            "standards[0].complaint_response_time",
            "in jam",
        ),
        (
            "  - code: lumajang-rekomendasi-anak",
            "  - code: lumajang-rekomendasi-anak\n    agency_code: dinsos-riau",
            "standards[0].agency_code",
            "unknown field",
        ),
    ],
)
def test_other_refusals(tmp_path: Path, old: str, new: str, where: str, problem: str) -> None:
    errors = check_file(_broken(tmp_path, old, new))
    assert [e.where for e in errors] == [where]
    assert problem in errors[0].problem


def test_misspelt_field_names_both_problems(tmp_path: Path) -> None:
    errors = check_file(_broken(tmp_path, "    cost: Tidak", "    costs: Tidak"))
    assert {(e.where, e.problem.split(" (")[0]) for e in errors} == {
        ("standards[0].cost", "missing field"),
        ("standards[0].costs", "unknown field"),
    }


def test_default_complaint_response_when_silent(tmp_path: Path) -> None:
    path = _broken(tmp_path, "    complaint_response_time: 2x24 jam\n", "")
    assert load_file(path).standards[0].complaint_response_time == "2x24 jam"


def test_duplicate_codes_across_files(tmp_path: Path) -> None:
    _broken(tmp_path, "name: Dinas", "name: Dinas", name="a.yaml")
    _broken(tmp_path, "code: dinsosp3a-lumajang", "code: other-office", name="b.yaml")
    with pytest.raises(StandardsError, match="lumajang-rekomendasi-anak' already used by"):
        load_registry(tmp_path)


def test_one_file_can_be_loaded_as_a_registry() -> None:
    registry = load_registry(SHIPPED / "prov-riau.yaml")
    assert [a.code for a in registry.agencies] == ["dinsos-riau"]


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(StandardsError, match="no such file"):
        load_registry(tmp_path / "nope")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "expected a mapping"),
        (b"- just\n- a list\n", "expected a mapping"),
        (b"code: \xff\xfe\n", "cannot read"),
        (b"code: a\ncode: [\n", "YAML syntax error"),
    ],
)
def test_files_that_are_not_standards(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    errors = check_file(path)
    assert len(errors) == 1
    assert problem in errors[0].problem
    with pytest.raises(StandardsError, match=problem):
        load_file(path)


@pytest.mark.parametrize(
    ("code", "requirements", "products", "channels"),
    [
        ("bintan-rehab-anak", [1], 1, 4),
        ("riau-penyerahan-anak-lansia", [4], 3, 1),
        ("banten-rehab-anak-terlantar", [3], 1, 8),
        ("babel-rehab-orang-terlantar", [0, 3, 1], 1, 3),
        ("lumajang-rekomendasi-anak", [5], 1, 9),
    ],
)
def test_nothing_of_a_seed_is_left_out(
    registry: StandardsRegistry,
    code: str,
    requirements: list[int],
    products: int,
    channels: int,
) -> None:
    standard = registry.standard(code)
    counted = [len(standard.requirements)]
    if len(standard.procedure) > 1:
        counted += [len(track.requirements) for track in standard.procedure]
    assert counted == requirements
    assert len(standard.products) == products
    assert len(standard.complaint_channels) == channels
