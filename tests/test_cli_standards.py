"""`laporbot standards list/show/check/deadline` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from laporbot.cli import main
from laporbot.paths import data_dir
from laporbot.settings import Settings

SHIPPED = data_dir("standards")


def run(*args: str, standards_dir: Path = SHIPPED) -> Result:
    settings = Settings(standards_dir=standards_dir)
    return CliRunner().invoke(main, ["standards", *args], obj={"settings": settings})


def test_list_table_shows_all_five() -> None:
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["CODE", "AGENCY", "COMPLETION"]
    body = "\n".join(lines[2:])
    for code, completion in [
        ("bintan-rehab-anak", "3 Bulan"),
        ("riau-penyerahan-anak-lansia", "7 Hari"),
        ("banten-rehab-anak-terlantar", "1 Tahun"),
        ("babel-rehab-orang-terlantar", "7 Hari"),
        ("lumajang-rekomendasi-anak", "1 Hari kerja"),
    ]:
        line = next(line for line in lines if line.startswith(code + " "))
        assert completion in line
        assert "Asia/Jakarta" in line
    assert len(lines) == 7
    assert "Pelayanan Penyerahan Anak Terlantar dan Lanjut Usia Terlantar" in body


def test_list_json() -> None:
    result = run("list", "--format", "json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert len(items) == 5
    assert all(
        set(item) == {"code", "agency", "title", "completion_time", "time_zone"} for item in items
    )
    by_code = {item["code"]: item for item in items}
    assert by_code["lumajang-rekomendasi-anak"]["completion_time"] == "1 Hari kerja"
    assert by_code["lumajang-rekomendasi-anak"]["agency"] == "dinsosp3a-lumajang"
    assert by_code["banten-rehab-anak-terlantar"]["completion_time"] == "1 Tahun"


def test_show() -> None:
    result = run("show", "babel-rehab-orang-terlantar")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "No. SK 188.4/47/DINSOSPMD/2023" in out
    assert "procedure A (Klien Rujukan Dinsos Kab / Kota / Daerah Lain):" in out
    assert "procedure B (Klien yang Diterima Langsung / Rujukan dari Instansi Lain):" in out
    assert "completion time: 7 Hari (7 hari)" in out
    assert "complaint response: 2x24 jam" in out
    assert "    6. Melaksanakan Pemulangan Klien." in out


def test_show_unknown_code() -> None:
    result = run("show", "nope")
    assert result.exit_code != 0
    assert "no standard 'nope'" in result.output


def test_check_passes_on_the_shipped_folder() -> None:
    result = run("check", str(SHIPPED))
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == 5


def test_check_defaults_to_the_configured_folder() -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == 5


def _copy_with(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "standards"
    folder.mkdir()
    for file in SHIPPED.glob("*.yaml"):
        text = file.read_text(encoding="utf-8")
        if file.name == "kab-lumajang.yaml":
            assert old in text
            text = text.replace(old, new, 1)
        (folder / file.name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "    legal_basis: 188.4/329/427.64/2022\n",
            "",
            "kab-lumajang.yaml: standards[0].legal_basis: missing field",
        ),
        (
            "completion_time: 1 Hari kerja",
            "completion_time: 3 minggu lagi",
            "kab-lumajang.yaml: standards[0].completion_time: "
            "unknown duration form '3 minggu lagi'",
        ),
        (
            "    procedure:\n      - steps:\n",
            "    procedure:\n      - steps: []\n        old_steps:\n",
            "kab-lumajang.yaml: standards[0].procedure[0].steps: procedure has no steps",
        ),
    ],
)
def test_check_fails_with_a_clear_message(tmp_path: Path, old: str, new: str, message: str) -> None:
    folder = _copy_with(tmp_path, old, new)
    result = run("check", str(folder))
    assert result.exit_code != 0
    assert message in result.output
    assert result.output.count("OK ") == 4
    assert "1 of 5 file(s) broken" in result.output
    # The single broken file is refused on its own too.
    single = run("check", str(folder / "kab-lumajang.yaml"))
    assert single.exit_code != 0
    assert message in single.output


def test_check_yaml_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("code: x\nname: [unclosed\n", encoding="utf-8")
    result = run("check", str(bad))
    assert result.exit_code != 0
    assert "bad.yaml: line " in result.output
    assert "YAML syntax error" in result.output


def test_commands_refuse_a_broken_configured_folder(tmp_path: Path) -> None:
    folder = _copy_with(tmp_path, "time_zone: Asia/Jakarta", "time_zone: Mars/Olympus")
    result = run("list", standards_dir=folder)
    assert result.exit_code != 0
    assert "kab-lumajang.yaml: time_zone: unknown IANA time zone 'Mars/Olympus'" in result.output


def test_deadline_lumajang_over_the_2026_holidays() -> None:
    result = run("deadline", "lumajang-rekomendasi-anak", "--received", "2026-03-17T10:00:00")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2026-03-25T16:00:00+07:00",
        "Rabu, 25 Maret 2026 pukul 16.00 WIB",
    ]


def test_deadline_with_an_offset_and_in_english() -> None:
    # 03:00 UTC on 31 January is 10:00 WIB; one year later is the end of 31 January 2027.
    result = run(
        "deadline",
        "banten-rehab-anak-terlantar",
        "--received",
        "2026-01-31T03:00:00+00:00",
        "--locale",
        "en",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2027-01-31T23:59:59+07:00",
        "Sunday, 31 January 2027 at 23:59 WIB",
    ]


def test_deadline_bad_input() -> None:
    assert run("deadline", "nope", "--received", "2026-03-17T10:00").exit_code != 0
    result = run("deadline", "bintan-rehab-anak", "--received", "yesterday")
    assert result.exit_code != 0
    assert "not an ISO 8601 date-time" in result.output


def test_area_served_and_suggested() -> None:
    served = run("area", "kabupaten lumajang", "kec. tempeh")
    assert served.exit_code == 0, served.output
    assert served.output.strip() == "served by: dinsosp3a-lumajang (Pemerintah Kab. Lumajang)"
    suggested = run("area", "Kota Tanjungpinang", "--province", "Kepulauan Riau")
    assert suggested.output.startswith("not served; suggested (same_province): dinsos-bintan")
    nearest = run("area", "Kota Medan", "--lat", "3.59", "--lon", "98.67")
    assert nearest.output.startswith("not served; suggested (nearest): dinsos-riau")
    assert " km)" in nearest.output
    # No pin: the gazetteer places Medan (Sumatera Utara), nearest to Riau's office.
    typed = run("area", "Kota Medan")
    assert typed.output.startswith("not served; suggested (nearest): dinsos-riau")
    unknown = run("area", "Kota Atlantis")
    assert unknown.exit_code == 1
    assert "no office to suggest" in unknown.output
    assert run("area", "Kota Medan", "--category", "x").exit_code == 2


def test_schema_is_json_schema_of_a_file() -> None:
    result = run("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["title"] == "Agency"
    assert "standards" in schema["required"]
    assert schema["additionalProperties"] is False
    # Set by the loader, never by a file.
    assert "agency_code" not in schema["$defs"]["ServiceStandard"]["properties"]


def test_deadline_of_a_complaint() -> None:
    result = run(
        "deadline", "bintan-rehab-anak", "--received", "2026-03-17T10:00+07:00", "--complaint"
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2026-03-19T10:00:00+07:00",
        "Kamis, 19 Maret 2026 pukul 10.00 WIB",
    ]
