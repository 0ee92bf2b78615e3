"""`Intake.handle_batch`: many messages in one go do exactly what one message at a time does,
and a message it cannot take, or whose action fails, is set apart without spoiling the rest."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from laporbot.db import agencies as agency_rows
from laporbot.db import outbox as outbox_rows
from laporbot.db.models import Case, Contact, ConversationSession, OutboxMessage
from laporbot.intake import Intake
from laporbot.messages import InboundMessage, OutboundMessage
from laporbot.settings import Settings
from tests.db.conftest import Store

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 24, 2, 5, tzinfo=UTC)

# A Bintan report in Indonesian, as citizens type it (tests/flows/test_intake.py).
REPORT = [
    "halo",
    "1",
    "1",
    "tidak",
    "ya",
    "Kab. Bintan",
    "Bintan Timur",
    "Jl. Raya Kijang",
    "10",
    "1",
    "sendirian di pelabuhan",
    "lewati",
    "ya",
    ("choice", "confirm"),
    "halo",  # a new conversation after the report: the menu again
]


@pytest.fixture
def maker(store: Store) -> Any:
    return store.sessionmaker


@pytest.fixture(scope="module")
def intake() -> Intake:
    return Intake.from_settings(Settings())


def message(user: str, index: int, line: str | tuple[str, str]) -> InboundMessage:
    choice = line[1] if isinstance(line, tuple) else None
    return InboundMessage(
        channel="telegram",
        platform_id=f"{user}-{index}",
        user_id=user,
        chat_id=f"chat-{user}",
        kind="choice" if choice else "text",
        received_at=NOW,
        text=None if choice else str(line),
        choice=choice,
        language_hint="en" if user.endswith("en") else None,
    )


def script(user: str, lines: list[Any] = REPORT) -> list[InboundMessage]:
    return [message(user, index, line) for index, line in enumerate(lines)]


async def replies_to(maker: Any, user: str) -> list[str]:
    """The texts queued for a user's chat, in the chat's order, case numbers blanked."""
    async with maker() as db:
        rows = await db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.chat_id == f"chat-{user}")
            .order_by(OutboxMessage.seq)
        )
        return [re.sub(r"LPR-\d{4}-\d{6}", "LPR-*", row.payload["text"]) for row in rows]


async def stored_state(maker: Any, user: str) -> dict[str, Any]:
    async with maker() as db:
        sessions = (
            await db.scalars(
                select(ConversationSession)
                .where(ConversationSession.user_id == user)
                .order_by(ConversationSession.id)
            )
        ).all()
        contact = (await db.scalars(select(Contact).where(Contact.platform_user_id == user))).one()
        cases = (await db.scalars(select(Case).where(Case.reporter_contact_id == contact.id))).all()
        return {
            "sessions": [
                (s.flow, s.step, s.status, s.locale, s.answers, s.chat_id == f"chat-{user}")
                for s in sessions
            ],
            "locale": contact.locale,
            "cases": [
                (c.agency_code, c.kabupaten, c.kecamatan, c.subject, c.due_at) for c in cases
            ],
        }


async def test_a_batch_does_what_one_message_at_a_time_does(maker: Any, intake: Intake) -> None:
    alone = ["a1", "a2", "a3en"]
    together = ["b1", "b2", "b3en"]
    for user in alone:
        for inbound in script(user):
            async with maker() as db, db.begin():
                await intake.handle_inbound(db, inbound, NOW)
    # Batches mixing citizens, two or three messages of each in a row, as a busy inbox claims.
    plans = [script(user) for user in together]
    for start in range(0, len(REPORT), 3):
        batch = [plan[i] for i in range(start, min(start + 3, len(REPORT))) for plan in plans]
        batch.sort(key=lambda m: int(m.platform_id.rsplit("-", 1)[1]))  # step by step
        async with maker() as db, db.begin():
            outcomes = await intake.handle_batch(db, batch, NOW)
        assert all(isinstance(outcome, list) and outcome for outcome in outcomes)

    for one, many in zip(alone, together, strict=True):
        expected = await replies_to(maker, one)
        assert len(expected) >= len(REPORT)
        assert any("LPR-*" in text for text in expected)
        assert await replies_to(maker, many) == expected
        assert await stored_state(maker, many) == await stored_state(maker, one)


async def test_a_new_citizens_whole_report_in_one_batch_opens_the_case(
    maker: Any, intake: Intake
) -> None:
    """A batch with a citizen's first message and their report's confirmation: the action
    needs the contact before the batch's last statement would have stored it (PostgreSQL
    leaves the touch to that statement), so it is stored then, and touched again at the end
    with the language the conversation chose."""
    for inbound in script("c1en"):
        async with maker() as db, db.begin():
            await intake.handle_inbound(db, inbound, NOW)
    async with maker() as db, db.begin():
        outcomes = await intake.handle_batch(db, script("d1en"), NOW)
    assert all(isinstance(outcome, list) and outcome for outcome in outcomes)
    assert await replies_to(maker, "d1en") == await replies_to(maker, "c1en")
    state = await stored_state(maker, "d1en")
    assert state == await stored_state(maker, "c1en")
    assert state["locale"] == "en"
    assert len(state["cases"]) == 1
    async with maker() as db:
        contact = (
            await db.scalars(select(Contact).where(Contact.platform_user_id == "d1en"))
        ).one()
    assert (contact.chat_id, contact.created_at, contact.last_inbound_at) == ("chat-d1en", NOW, NOW)
    assert contact.consent_at == NOW


async def test_an_action_that_fails_sets_its_person_apart(maker: Any) -> None:
    intake = Intake.from_settings(Settings())

    async def refuse(db: Any, case: Case, now: datetime) -> None:
        raise RuntimeError("triage is down")

    for user in ("ok", "broken"):
        async with maker() as db, db.begin():
            outcomes = await intake.handle_batch(db, script(user, REPORT[:13]), NOW)
        assert all(isinstance(outcome, list) for outcome in outcomes)

    before = await stored_state(maker, "broken")
    intake.case_hooks.append(refuse)
    confirm, again = script("broken", REPORT)[13:15]
    other = script("other", ["halo"])[0]
    async with maker() as db, db.begin():
        outcomes = await intake.handle_batch(db, [confirm, other, again], NOW)
    assert isinstance(outcomes[0], RuntimeError)
    assert isinstance(outcomes[1], list)
    assert outcomes[1]
    assert outcomes[2] is None  # after a failure, the person's later messages wait
    async with maker() as db:
        assert (await db.scalars(select(Case))).all() == []  # the case was rolled back
        contact = (
            await db.scalars(select(Contact).where(Contact.platform_user_id == "broken"))
        ).one()
        assert (contact.consent_at, contact.phone) == (None, None)  # and the consent with it
    assert await stored_state(maker, "broken") == before  # still at the summary
    assert len(await replies_to(maker, "other")) == 1

    intake.case_hooks.remove(refuse)
    async with maker() as db, db.begin():
        outcomes = await intake.handle_batch(db, [confirm, again], NOW)
    assert all(isinstance(outcome, list) for outcome in outcomes)
    assert any("LPR-*" in text for text in await replies_to(maker, "broken"))


async def test_without_isolation_an_action_that_fails_propagates(maker: Any) -> None:
    intake = Intake.from_settings(Settings())
    async with maker() as db, db.begin():
        await intake.handle_batch(db, script("broken", REPORT[:13]), NOW)
    before = await stored_state(maker, "broken")
    savepoints: list[str] = []

    async def refuse(db: Any, case: Case, now: datetime) -> None:
        savepoints.append(str(db.in_nested_transaction()))
        raise RuntimeError("triage is down")

    intake.case_hooks.append(refuse)
    confirm = script("broken", REPORT)[13]
    other = script("other", ["halo"])[0]
    async with maker() as db:
        with pytest.raises(RuntimeError, match="triage is down"):
            async with db.begin():
                await intake.handle_batch(db, [other, confirm], NOW, isolate=False)
    assert savepoints == ["False"]  # no savepoint of its own: the caller rolls back
    async with maker() as db:
        assert (await db.scalars(select(Case))).all() == []
    assert await stored_state(maker, "broken") == before
    assert await replies_to(maker, "other") == []  # the whole transaction went back


async def test_messages_the_officer_side_may_take_are_left_in_order(
    maker: Any, intake: Intake
) -> None:
    first, second, third = script("c1", ["halo", "/daftar KODE", "1"])
    group = InboundMessage(
        channel="telegram",
        platform_id="g-1",
        user_id="c2",
        chat_id="-100",
        kind="text",
        received_at=NOW,
        text="halo",
        is_group=True,
    )
    other = script("c3", ["halo"])[0]
    asked: list[tuple[str, str | None]] = []

    class OfficerSide:
        def senders(self, inbounds: Sequence[InboundMessage]) -> set[str]:
            return {m.user_id for m in inbounds}

        def may_take(
            self, inbound: InboundMessage, *, officers: Collection[str], flow: str | None
        ) -> bool:
            asked.append((inbound.platform_id, flow))
            return (inbound.text or "").startswith("/daftar")

    async with maker() as db, db.begin():
        outcomes = await intake.handle_batch(
            db, [first, group, other, second, third], NOW, officer_side=OfficerSide()
        )
    assert isinstance(outcomes[0], list)
    assert isinstance(outcomes[2], list)
    assert outcomes[1] is None  # a group's message is the officers' business
    assert outcomes[3] is None
    assert outcomes[4] is None
    assert ("c1-1", None) in asked
    assert len(await replies_to(maker, "c1")) == len(outcomes[0])
    async with maker() as db:
        contacts = (await db.scalars(select(Contact.platform_user_id))).all()
    assert sorted(contacts) == ["c1", "c3"]  # the group sender was not recorded as a citizen


async def test_a_lapsed_conversation_is_expired_and_a_new_one_starts(
    maker: Any, intake: Intake
) -> None:
    first = script("late", ["halo", "1"])
    async with maker() as db, db.begin():
        await intake.handle_batch(db, first, NOW)
    later = NOW.replace(year=2026, month=4)
    again = message("late", 9, "halo")
    async with maker() as db, db.begin():
        (outcome,) = await intake.handle_batch(db, [again], later)
    assert isinstance(outcome, list)
    assert outcome
    state = await stored_state(maker, "late")
    assert [(flow, status) for flow, _, status, *_ in state["sessions"]] == [
        ("report", "expired"),
        ("main", "active"),
    ]
    assert state["sessions"][0][4] == {}  # an expired conversation keeps no answers


async def test_an_opened_case_records_consent_on_the_contact_the_batch_read(
    store: Store,
) -> None:
    """The action's contact is made from the row the batch wrote (no SELECT), or taken from
    the session when already loaded there; either way only what the action changes is
    written, and known agencies are not written again."""
    intake = Intake.from_settings(Settings())
    agencies = [(a.code, a.name, a.time_zone) for a in intake.registry.agencies]
    written: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        written.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    for user, preload in (("fresh", False), ("loaded", True)):
        async with store.sessionmaker() as db, db.begin():
            await intake.handle_batch(db, script(user, REPORT[:13]), NOW)
        written.clear()
        async with store.sessionmaker() as db, db.begin():
            # Held here: the session keeps only objects referenced elsewhere.
            held = (
                await db.scalar(select(Contact).where(Contact.platform_user_id == user))
                if preload
                else None
            )
            outcomes = await intake.handle_batch(db, script(user, REPORT[13:]), LATER)
            assert held is None or held.consent_at == LATER
        assert all(isinstance(outcome, list) for outcome in outcomes)
        assert sum("INSERT INTO agencies" in s for s in written) == 1  # not known as stored
        # The consent: carried by the case's insert on PostgreSQL, flushed before it on SQLite.
        consent_updates = sum(s.startswith("UPDATE contacts") for s in written)
        assert consent_updates == (0 if store.dialect == "postgresql" else 1)
        # Loaded already (by the first SELECT): read again with the session's own `get`.
        assert sum(s.startswith("SELECT contacts.") for s in written) == (2 if preload else 0)
        async with store.sessionmaker() as db:
            contact = (
                await db.scalars(select(Contact).where(Contact.platform_user_id == user))
            ).one()
            assert contact.consent_at == LATER
            assert contact.locale == "id"
            assert contact.last_inbound_at == LATER
        assert (await stored_state(store.sessionmaker, user))["cases"]

    async with store.sessionmaker() as db, db.begin():
        await agency_rows.sync_agencies(db, agencies)
    intake.agencies_stored(code for code, _, _ in agencies)
    async with store.sessionmaker() as db, db.begin():
        await intake.handle_batch(db, script("third", REPORT[:13]), NOW)
    written.clear()
    async with store.sessionmaker() as db, db.begin():
        await intake.handle_batch(db, script("third", REPORT[13:]), LATER)
    assert not any("INSERT INTO agencies" in s for s in written)
    assert (await stored_state(store.sessionmaker, "third"))["cases"]


async def test_a_report_records_the_citizens_consent_once_and_their_latest_phone(
    maker: Any, intake: Intake
) -> None:
    def report(phone: str, first: int = 0) -> list[InboundMessage]:
        lines = [*REPORT[:12], "tidak", phone, ("choice", "confirm")]  # not anonymous
        return [message("p1", first + index, line) for index, line in enumerate(lines)]

    async def contact_of(user: str) -> tuple[Any, ...]:
        async with maker() as db:
            contact = (
                await db.scalars(select(Contact).where(Contact.platform_user_id == user))
            ).one()
            return contact.consent_at, contact.phone

    async with maker() as db, db.begin():
        outcomes = await intake.handle_batch(db, report("081234567890"), NOW)
    assert all(isinstance(outcome, list) for outcome in outcomes)
    assert await contact_of("p1") == (NOW, "+6281234567890")
    async with maker() as db, db.begin():
        await intake.handle_batch(db, report("081298765432", first=100), LATER)
    assert await contact_of("p1") == (NOW, "+6281298765432")  # consent kept, phone replaced
    async with maker() as db:
        assert len((await db.scalars(select(Case))).all()) == 2


async def test_a_phone_given_in_the_report_is_cut_from_the_cases_group_post(
    maker: Any, intake: Intake
) -> None:
    posted: list[str] = []

    async def post(db: Any, case: Case, now: datetime) -> None:
        # As the triage post does: a group message about the case, screened when queued.
        message = OutboundMessage(channel="telegram", chat_id="-100", text="call +6281234567890")
        row = await outbox_rows.enqueue(db, message, now, case_id=case.id)
        posted.append(row.payload["text"])

    intake.case_hooks.append(post)
    lines = [*REPORT[:12], "tidak", "081234567890", ("choice", "confirm")]
    async with maker() as db, db.begin():
        outcomes = await intake.handle_batch(db, script("p2", lines), NOW)
    assert all(isinstance(outcome, list) for outcome in outcomes)
    assert posted == ["call [\u2026]"]  # the phone given a moment before counts already
