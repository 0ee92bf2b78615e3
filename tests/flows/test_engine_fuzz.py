"""Whatever a citizen sends, in any order, the engine answers and never crashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laporbot.flows import (
    ActionResult,
    EndSession,
    FileComplaint,
    Flows,
    ListOffices,
    LookUpCase,
    MessageResume,
    OpenCase,
    Send,
    load_flows,
    step,
)
from laporbot.flows.session import Session
from laporbot.i18n import Translator
from laporbot.messages import InboundMessage, Location, Photo
from laporbot.paths import data_dir

FLOWS: Flows = load_flows(data_dir("conversations"), Translator(data_dir("locales")))
NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)

OUTCOMES = {
    OpenCase: {
        "status": "opened",
        "number": "LPR-2026-000001",
        "agency_name": "X",
        "due_at": "2026-03-25T09:00:00+00:00",
        "time_zone": "Asia/Jakarta",
        "requirements": ["a"],
        "contacts": ["b"],
        "standard_title": "s",
    },
    FileComplaint: {
        "status": "filed",
        "number": "ADU-2026-000001",
        "agency_name": "X",
        "due_at": "2026-03-26T02:00:00+00:00",
        "time_zone": "Asia/Jakarta",
    },
    LookUpCase: {"kind": "none"},
    ListOffices: {"offices": [{"name": "X", "contacts": ["1"], "areas": ["Kab. Y"]}]},
}

WORDS = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "9",
    "0",
    "ya",
    "tidak",
    "yes",
    "no",
    "kirim",
    "lewati",
    "skip",
    "kembali",
    "/back",
    "/batal",
    "menu",
    "/bahasa",
    "english",
    "/id",
    "/help",
    "mulai lagi",
    "Kab. Bintan",
    "Lumajang, Jawa Timur",
    "0812-3456-7890",
    "sekitar 7 tahun",
    "",
    "🙂",
    "anak jalanan",
    "lansia",
    "LPR-2026-000001",
    "x" * 5000,
]

message_strategy = st.one_of(
    st.sampled_from(WORDS).map(lambda text: ("text", text)),
    st.text(max_size=40).map(lambda text: ("text", text)),
    st.sampled_from(
        [
            "yes",
            "no",
            "confirm",
            "cancel",
            "_skip",
            "_restart",
            "_officer",
            "_lang:en",
            "report",
            "bogus",
        ]
    ).map(lambda c: ("choice", c)),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(lambda p: ("location", p)),
    st.just(("photo", "file-1")),
)


def inbound(kind: str, value: object, index: int) -> InboundMessage:
    base = {
        "channel": "web",
        "platform_id": str(index),
        "user_id": "u",
        "chat_id": "c",
        "received_at": NOW,
    }
    if kind == "text":
        return InboundMessage(kind="text", text=str(value), **base)  # type: ignore[arg-type]
    if kind == "choice":
        return InboundMessage(kind="choice", choice=str(value), **base)  # type: ignore[arg-type]
    if kind == "location":
        lat, lon = value  # type: ignore[misc]
        return InboundMessage(kind="location", location=Location(lat, lon), **base)  # type: ignore[arg-type]
    return InboundMessage(kind="photo", photo=Photo(str(value)), **base)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message_strategy, min_size=1, max_size=40))
def test_every_message_gets_an_answer(messages: list[tuple[str, object]]) -> None:
    session: Session | None = None
    now = NOW
    for index, (kind, value) in enumerate(messages):
        now += timedelta(minutes=1)
        session, effects = step(FLOWS, session, MessageResume(inbound(kind, value, index)), now)
        while effects and type(effects[-1]) in OUTCOMES:
            outcome = OUTCOMES[type(effects[-1])]
            session, more = step(FLOWS, session, ActionResult(dict(outcome)), now)
            effects = effects[:-1] + more
        assert session is not None
        assert any(isinstance(effect, Send) for effect in effects), (kind, value)
        assert all(isinstance(e, (Send, EndSession)) for e in effects)
        if session.status == "active":
            assert FLOWS.step_of(session.flow, session.step).waits
            assert all(len(e.text) <= 4096 for e in effects if isinstance(e, Send))
