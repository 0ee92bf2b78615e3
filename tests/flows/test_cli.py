"""A report piped into `laporbot chat` opens a real case that `laporbot cases` shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from laporbot.cli import main
from laporbot.clock import FixedClock
from laporbot.settings import Settings

# Tuesday 24 March 2026, 09:00 WIB
NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)

REPORT = "\n".join(
    [
        "halo",
        "1",  # report
        "anak jalanan",  # typed instead of a button: matched to the option
        "ya",  # in danger now
        "ya",  # consent
        "Kab. Lumajang",
        "Sukodono",
        "Jl. Pisang Gajah, dekat pasar",
        "sekitar 10 tahun",
        "1",  # male
        "mengamen di perempatan, tampak lapar",
        "/photo {photo}",  # a real JPEG, written by the test
        "2",  # not anonymous
        "0812-3456-7890",
        "1",  # send
        "",
    ]
)


def report_with_photo(folder: Path) -> str:
    """`REPORT` with its photo: a real (tiny) JPEG written into `folder`."""
    photo = folder / "anak.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    return REPORT.replace("{photo}", str(photo))


def run(settings: Settings, args: list[str], stdin: str | None = None) -> str:
    runner = CliRunner()
    result = runner.invoke(
        main, args, input=stdin, obj={"settings": settings, "clock": FixedClock(NOW)}
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_piped_report_opens_a_case_listed_with_office_standard_priority_and_due(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)
    transcript = run(settings, ["chat"], report_with_photo(tmp_path))
    assert "129 — SAPA KemenPPPA (WhatsApp 08111-129-129)" in transcript
    assert "112" in transcript
    assert "Nomor laporan: LPR-2026-000001" in transcript
    # 1 hari kerja from Tuesday: Wednesday at closing, 16.00 WIB.
    assert "paling lambat Rabu, 25 Maret 2026 pukul 16.00 WIB" in transcript
    assert "[1] Kirim" in transcript
    cases = json.loads(run(settings, ["cases", "list", "--format", "json"]))
    assert cases == [
        {
            "number": "LPR-2026-000001",
            "agency": "dinsosp3a-lumajang",
            "standard": "lumajang-rekomendasi-anak",
            "category": "anak_jalanan",
            "priority": 0,
            "status": "new",
            "received_at": "2026-03-24T02:00:00+00:00",
            "due_at": "2026-03-25T09:00:00+00:00",
        }
    ]
    shown = run(settings, ["cases", "show", "lpr-2026-000001"])
    assert "kecamatan:           Sukodono" in shown
    assert "citizen  opened" in shown


def test_english_pin_and_unserved_area(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    lines = [
        "hi",
        "english",
        "1",
        "2",
        "no",
        "yes",
        "/loc -8.13,113.22",
        "Lumajang",
        "Sukodono",
        "80",
        "female",
        "sleeping alone at the bus stop",
        "skip",
        "yes",
        "send",
    ]
    transcript = run(settings, ["chat", "--user", "u2"], "\n".join(lines) + "\n")
    assert "Language changed to English." in transcript
    assert "(share a location: type /loc LAT,LON)" in transcript
    assert "Report number: LPR-2026-000001" in transcript
    # Lumajang's office serves the place but has no standard for the elderly: said so, and the
    # nearest office that has one takes the report.
    assert "The area Lumajang is served by" in transcript
    assert "that office has no service for this kind of report" in transcript
    assert "not served directly" not in transcript
    assert "0717439080" in transcript
    cases = json.loads(run(settings, ["cases", "list", "--format", "json"]))
    assert cases[0]["category"] == "lansia_terlantar"
    assert cases[0]["priority"] == 2
