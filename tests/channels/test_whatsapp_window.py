"""WhatsApp's 24-hour window, the template swap, and the outbound planner's pure helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.whatsapp import choose_message, make_prepare_outbound, window_open
from laporbot.channels.whatsapp.outbound import shorten, split_text
from laporbot.clock import FixedClock
from laporbot.db import contacts
from laporbot.messages import Button, OutboundMessage
from laporbot.settings import Settings

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SETTINGS = Settings(
    whatsapp_followup_template="lb_followup", whatsapp_reminder_template="lb_reminder"
)


def free_form(chat_id: str = "6281234567890") -> OutboundMessage:
    return OutboundMessage(
        channel="whatsapp",
        chat_id=chat_id,
        text="Petugas sudah\nmenuju   lokasi.",
        buttons=(Button("ok", "Baik"),),
        request_location=True,
    )


def test_window_is_open_for_24_hours_from_the_last_message() -> None:
    clock = FixedClock(T0)
    last = clock.now()
    assert window_open(last, clock.now())
    clock.advance(timedelta(hours=23, minutes=59, seconds=59))
    assert window_open(last, clock.now())
    clock.advance(timedelta(seconds=1))
    assert not window_open(last, clock.now())
    assert not window_open(None, clock.now())  # never wrote: only a template may go
    assert window_open(T0 + timedelta(seconds=2), T0)  # another worker's clock slightly ahead


def test_inside_the_window_the_message_is_unchanged() -> None:
    message = free_form()
    assert choose_message(message, T0, T0 + timedelta(hours=3), SETTINGS) is message


def test_outside_the_window_a_follow_up_becomes_the_template() -> None:
    swapped = choose_message(free_form(), T0, T0 + timedelta(hours=25), SETTINGS, reference="LMJ-7")
    assert swapped.template == "lb_followup"
    assert swapped.template_params == ("LMJ-7", "Petugas sudah menuju lokasi.")
    assert swapped.buttons == ()
    assert not swapped.request_location
    reminder = choose_message(free_form(), None, T0, SETTINGS, reminder=True)
    assert reminder.template == "lb_reminder"
    assert reminder.template_params[0] == "-"


def test_a_template_or_another_channel_is_left_alone() -> None:
    template = OutboundMessage(
        channel="whatsapp", chat_id="1", text="x", template="t", template_params=("a", "b")
    )
    assert choose_message(template, None, T0, SETTINGS) is template
    telegram = OutboundMessage(channel="telegram", chat_id="1", text="x")
    assert choose_message(telegram, None, T0, SETTINGS) is telegram


async def test_prepare_reads_the_contacts_last_inbound_time(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    prepare = make_prepare_outbound(SETTINGS)
    async with db_sessionmaker() as session, session.begin():
        await contacts.touch(
            session,
            channel="whatsapp",
            platform_user_id="ID.1410018717833190",
            chat_id="6281234567890",
            now=T0,
        )
        await contacts.touch(
            session,
            channel="whatsapp",
            platform_user_id="ID.555",
            chat_id="ID.555",
            now=T0 - timedelta(days=2),
        )
    async with db_sessionmaker() as session:
        inside = await prepare(session, free_form(), T0 + timedelta(hours=1))
        assert inside.template is None
        outside = await prepare(session, free_form(), T0 + timedelta(hours=30))
        assert outside.template == "lb_followup"
        by_bsuid = await prepare(session, free_form("ID.555"), T0)
        assert by_bsuid.template == "lb_followup"
        stranger = await prepare(session, free_form("6280000000000"), T0)
        assert stranger.template == "lb_followup"


# --- pure helpers of the planner -------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "limit", "expected"),
    [
        ("Ya", 20, "Ya"),
        ("  Lanjut   usia  ", 20, "Lanjut usia"),
        ("Anak terlantar di jalan raya", 20, "Anak terlantar di…"),
        ("Penyandang disabilitas terlantar", 24, "Penyandang disabilitas…"),
        ("Supercalifragilisticexpialidocious", 20, "Supercalifragilisti…"),
    ],
)
def test_shorten(label: str, limit: int, expected: str) -> None:
    assert shorten(label, limit) == expected


@given(st.text(min_size=0, max_size=200), st.integers(min_value=2, max_value=80))
def test_shorten_always_fits(label: str, limit: int) -> None:
    assert len(shorten(label, limit)) <= limit


@given(st.text(alphabet=st.sampled_from("ab \n"), min_size=1, max_size=600))
def test_split_text_fits_and_loses_no_words(text: str) -> None:
    pieces = split_text(text, limit=50)
    assert all(len(p) <= 50 for p in pieces)
    # Nothing lost: only whitespace at the cuts may go (a word longer than the limit is cut).
    assert "".join("".join(pieces).split()) == "".join(text.split())
