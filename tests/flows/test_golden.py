"""Golden transcripts: input lines (as typed in `laporbot chat`), the engine's effects, the
actions' real outcomes (a migrated SQLite database), with a fixed clock.

Each scenario's expected transcript is `tests/flows/golden/<scenario>.txt`. After a deliberate
change, regenerate them with `LAPORBOT_UPDATE_GOLDEN=1 pytest tests/flows/test_golden.py` and
review the diff. Lines starting with `@` drive the scenario: `@wait N` lets N minutes pass and
runs the timeout sweep; `@user NAME` continues as another citizen.

Between turns the session is stored as JSON and read back, as the database keeps it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from laporbot.cli.chat import parse_line
from laporbot.clock import FixedClock
from laporbot.db import contacts, migrate
from laporbot.db.engine import create_engine, make_sessionmaker
from laporbot.flows import (
    ActionResult,
    Effect,
    EndSession,
    ExpiryResume,
    MessageResume,
    NudgeResume,
    Send,
    Session,
    step,
)
from laporbot.flows.session import Resume
from laporbot.intake import Intake
from laporbot.messages import Button
from laporbot.settings import Settings

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LAPORBOT_UPDATE_GOLDEN") == "1"
# Tuesday 24 March 2026, 09:00 WIB: inside office hours, before the Nyepi/Idul Fitri days.
START = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)

REPORT_BINTAN = [
    "halo",
    "1",
    "1",
    "tidak",
    "ya",
    "Kab. Bintan, Kepulauan Riau",
    "Bintan Timur",
    "Jl. Raya Kijang km 5",
    "14",
    "1",
    "putus sekolah, tinggal di pelabuhan",
    "lewati",
    "ya",
    "1",
]

SCENARIOS: dict[str, list[str]] = {
    "report_id_emergency": [
        "halo",
        "1",
        "1",
        "ya",
        "ya",
        "Kab. Lumajang, Jawa Timur",
        "Sukodono",
        "Jl. Pisang Gajah dekat pasar",
        "sekitar 6 tahun",
        "perempuan",
        "ditinggal sendirian di rumah kosong, menangis",
        "/photo foto/anak.jpg",
        "tidak",
        "0812-3456-7890",
        "kirim",
    ],
    "report_en_anonymous_pin": [
        "english",
        "1",
        "street",
        "no",
        "yes",
        "/loc -8.1335,113.2246",
        "Lumajang, Jawa Timur",
        "Sukodono",
        "12",
        "1",
        "begging at the traffic light every night",
        "skip",
        "yes",
        "1",
    ],
    "report_id_unserved_area": [
        "halo",
        "1",
        "anak terlantar",
        "tidak",
        "ya",
        "Kota Surabaya, Jawa Timur",
        "Genteng",
        "Jl. Tunjungan depan toko sepatu",
        "9",
        "laki-laki",
        "tidur di trotoar setiap malam",
        "lewati",
        "ya",
        "1",
    ],
    # No office in Papua: the nearest office (by the gazetteer's point for Jayapura) that
    # handles "other" takes it, with its contacts (before the gazetteer: only SAPA 129).
    "report_en_far_area_nearest_office": [
        "english",
        "1",
        "other",
        "no",
        "yes",
        "Kota Jayapura, Papua",
        "Abepura",
        "near the market",
        "skip",
        "3",
        "an old man sleeps at the bus stop, seems confused",
        "skip",
        "yes",
        "send",
    ],
    "report_id_no_consent": ["halo", "1", "2", "tidak", "tidak", "halo"],
    "report_id_cancel_and_back": [
        "halo",
        "1",
        "1",
        "tidak",
        "ya",
        "Kab. Bintan",
        "kembali",
        "kembali",
        "tidak",
        "ya",
        "/back",
        "/batal",
        "halo",
    ],
    "report_id_bad_answers": [
        "halo",
        "1",
        "pisang",
        "???",
        "apa ini",
        "2",
        "halo",
        "1",
        "x",
        "y",
        "z",
        "mulai lagi",
    ],
    "report_id_language_and_restart": [
        "halo",
        "1",
        "/bahasa",
        "2",
        "elderly",
        "yes",
        "/id",
        "menu",
        "4",
    ],
    "report_id_bad_values": [
        "halo",
        "1",
        "1",
        "tidak",
        "ya",
        "/loc -6.12,106.15",
        "Kota Serang, Banten",
        "Cipocok Jaya",
        "umur 300",
        "tujuh",
        "7",
        "2",
        "x",
        "x" * 4001,
        "kurus dan kotor, sendirian di terminal",
        "tidak ada",
        "tidak",
        "12345",
        "+62 21 555 0199",
        "ya",
    ],
    "report_id_back_changes_answer": [
        *REPORT_BINTAN[:-2],
        "tidak",
        "0812 1111 2222",
        "kembali",
        "kembali",
        "ya",
        "1",
    ],
    "complaint_id_about_case": [
        *REPORT_BINTAN,
        "halo",
        "2",
        "ya",
        "1",
        "LPR-2026-000001",
        "sudah dua hari belum ada petugas yang datang",
        "ya",
        "1",
    ],
    "complaint_id_unknown_case": [
        "halo",
        "2",
        "ya",
        "1",
        "LPR-2026-000777",
        "petugas tidak pernah datang ke lokasi",
        "ya",
        "1",
    ],
    "complaint_en_about_office": [
        "english",
        "complaint",
        "yes",
        "2",
        "Riau",
        "the office did not answer my calls for a week",
        "no",
        "0811 7654 321",
        "send",
    ],
    "status_id_owner_only": [
        *REPORT_BINTAN,
        "halo",
        "3",
        "lpr-2026-000001",
        "@user budi",
        "halo",
        "3",
        "LPR-2026-000001",
    ],
    "status_en_complaint": [
        "english",
        "2",
        "yes",
        "2",
        "Kab. Bintan",
        "nobody picks up the phone at the office",
        "yes",
        "1",
        "hi",
        "3",
        "ADU-2026-000001",
    ],
    "help_id": ["halo", "4"],
    "help_en": ["english", "/help"],
    "expiry_with_nudge_id": ["halo", "1", "1", "@wait 20", "@wait 5", "@wait 5", "1"],
    # Issue 3 a: a kota no office lists, typed without its province: the gazetteer knows it
    # is in Kepulauan Riau, so Kab. Bintan's office (same province) with its contacts.
    "report_id_kota_province_from_gazetteer": [
        "halo",
        "1",
        "1",
        "tidak",
        "ya",
        "Kota Tanjungpinang",
        "Tanjungpinang Barat",
        "Jl. Merdeka dekat pelabuhan",
        "9",
        "1",
        "tidur di pelabuhan setiap malam",
        "lewati",
        "ya",
        "1",
    ],
    # Issue 3 b: Lumajang is served, but its office has no service for the elderly: said so,
    # and the nearest office that has one (from the pin) takes the report.
    "report_en_category_not_served": [
        "english",
        "1",
        "2",
        "no",
        "yes",
        "/loc -8.13,113.22",
        "Lumajang",
        "Sukodono",
        "80",
        "2",
        "sleeping alone at the bus stop",
        "skip",
        "yes",
        "1",
    ],
    # Issue 3 c: a kecamatan Lumajang's office does not list: the closest spellings as buttons,
    # typed again, then "Lainnya" keeps it and the kabupaten's office still takes the report.
    "report_id_kecamatan_suggestions": [
        "halo",
        "1",
        "1",
        "tidak",
        "ya",
        "Kab Lumajang",
        "Desa Antah",
        "sukodon",
        "1",
        "Jl. Pisang Gajah",
        "7",
        "2",
        "ditinggal di rumah kosong",
        "lewati",
        "ya",
        "1",
    ],
    "report_id_kecamatan_other": [
        "halo",
        "1",
        "1",
        "tidak",
        "ya",
        "Kab Lumajang",
        "Tempe",
        "lainnya",
        "dekat alun-alun",
        "7",
        "2",
        "ditinggal di rumah kosong",
        "lewati",
        "ya",
        "1",
    ],
}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    import asyncio

    asyncio.run(migrate.upgrade(Settings(data_dir=folder)))
    return folder / "laporbot.db"


@pytest.fixture(scope="module")
def intake() -> Intake:
    return Intake.from_settings(Settings())


@pytest.fixture
async def maker(tmp_path: Path, template_db: Path) -> AsyncIterator[Any]:
    shutil.copy(template_db, tmp_path / "laporbot.db")
    engine = create_engine(Settings(data_dir=tmp_path))
    yield make_sessionmaker(engine)
    await engine.dispose()


def _stored(session: Session | None) -> Session | None:
    """The session as the database gives it back: answers and state through JSON."""
    if session is None:
        return None
    return dataclasses.replace(
        session,
        answers=json.loads(json.dumps(session.answers)),
        state=json.loads(json.dumps(session.state)),
    )


def _show_effect(effect: Effect) -> list[str]:
    if isinstance(effect, Send):
        lines = [
            f"< {line}" if i == 0 else f"  {line}" for i, line in enumerate(effect.text.split("\n"))
        ]
        lines += [f"  [{n}] {b.label} ({b.id})" for n, b in enumerate(effect.buttons, start=1)]
        if effect.request_location:
            lines.append("  (asks for a location)")
        return lines
    if isinstance(effect, EndSession):
        return [f"! EndSession {effect.reason}"]
    fields = json.dumps(dataclasses.asdict(effect), sort_keys=True, ensure_ascii=False)
    return [f"! {type(effect).__name__} {fields}"]


async def run_scenario(lines: list[str], intake: Intake, maker: Any) -> str:
    clock = FixedClock(START)
    out: list[str] = []
    user = "citizen"
    sessions: dict[str, Session | None] = {}
    buttons: tuple[Button, ...] = ()
    for line in lines:
        resume: Resume
        if line.startswith("@user "):
            user = line.removeprefix("@user ")
            buttons = ()
            out.append(f"-- as {user}")
            continue
        if line.startswith("@wait "):
            minutes = int(line.removeprefix("@wait "))
            clock.advance(timedelta(minutes=minutes))
            out.append(f"-- {minutes} minutes later")
            current = sessions.get(user)
            if current is None or current.status != "active":
                continue
            lapsed = current.expires_at is not None and current.expires_at <= clock.now()
            resume = ExpiryResume() if lapsed else NudgeResume()
        else:
            clock.advance(timedelta(minutes=1))
            inbound = parse_line(line, buttons, user=user, clock=clock, language=None)
            shown = line if len(line) <= 120 else f"({len(line)} characters)"
            out.append(f"> {shown}")
            resume = MessageResume(inbound)
        now = clock.now()
        async with maker() as db, db.begin():
            contact = await contacts.touch(
                db, channel="terminal", platform_user_id=user, chat_id=user, now=now
            )
            session, effects = step(
                intake.flows, _stored(sessions.get(user)), resume, now, locale=contact.locale
            )
            while effects:
                for effect in effects:
                    out.extend(_show_effect(effect))
                    if isinstance(effect, Send) and effect.buttons:
                        buttons = effect.buttons
                last = effects[-1]
                if isinstance(last, (Send, EndSession)):
                    break
                outcome = await intake.act(db, contact, last, now)
                out.append("= " + json.dumps(outcome, sort_keys=True, ensure_ascii=False))
                session, effects = step(intake.flows, _stored(session), ActionResult(outcome), now)
            if session is not None:
                contact.locale = session.locale
                out.append(f"  @ {session.flow}.{session.step} {session.status}")
            sessions[user] = session
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_golden_transcript(name: str, intake: Intake, maker: Any) -> None:
    transcript = await run_scenario(SCENARIOS[name], intake, maker)
    path = GOLDEN / f"{name}.txt"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"no golden file {path.name}; run with LAPORBOT_UPDATE_GOLDEN=1")
        path.parent.mkdir(exist_ok=True)
        path.write_text(transcript, encoding="utf-8")
    assert transcript == path.read_text(encoding="utf-8")


def test_every_scenario_has_a_golden_file_and_no_stale_ones() -> None:
    files = {path.stem for path in GOLDEN.glob("*.txt")}
    assert files == set(SCENARIOS)
