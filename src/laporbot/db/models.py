"""The tables, as SQLAlchemy 2 typed declarative models, portable between SQLite and PostgreSQL.

Conventions: integer surrogate keys; every datetime is an aware UTC `UTCDateTime`; enum-like
columns are short strings (the allowed values are listed in the `Literal` aliases below, checked
by the code that writes them, so adding a value needs no table rebuild on SQLite); structured
data is `JSON`. Constraint names follow `NAMING_CONVENTION` so Alembic can refer to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from laporbot.db.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OfficerRole = Literal["officer", "supervisor", "admin"]
CaseStatus = Literal["new", "claimed", "in_progress", "referred", "resolved", "rejected", "closed"]
ActorKind = Literal["citizen", "officer", "system"]
ComplaintStatus = Literal["open", "answered", "reopened", "closed"]
DeadlineSubject = Literal["case", "complaint"]
DeadlineKind = Literal["triage", "completion", "complaint_answer"]
DeadlineStatus = Literal["open", "met", "breached", "cancelled"]
ReminderAudience = Literal["group", "officer", "supervisor", "citizen"]
ReminderStatus = Literal["pending", "claimed", "sent", "cancelled"]
InboxStatus = Literal["pending", "done", "failed", "ignored"]
OutboxStatus = Literal["pending", "sending", "sent", "failed"]
SessionStatus = Literal["active", "ended", "expired"]

# Lengths are generous bounds, not business rules; PostgreSQL enforces them, SQLite does not.
_CODE = 64
_ID = 128  # a platform's user, chat or message id as text
_STATUS = 16


def _json_dict() -> dict[str, Any]:
    return {}


class Base(DeclarativeBase):
    """Declarative base with the constraint naming convention Alembic relies on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class Agency(Base):
    """An office (e.g. a Dinas Sosial); synced from the standards files at start, by code."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(_CODE), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    time_zone: Mapped[str] = mapped_column(String(64))


class Officer(Base):
    """A person working for an agency, bound by invite to a role."""

    __tablename__ = "officers"
    __table_args__ = (UniqueConstraint("agency_code", "telegram_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    telegram_user_id: Mapped[str] = mapped_column(String(_ID), index=True)
    role: Mapped[str] = mapped_column(String(_STATUS))  # OfficerRole
    display_name: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # The officer's language (one of settings.locales, from Telegram's language_code when the
    # invite was redeemed); None: the deployment's default_locale (migration 0003).
    locale: Mapped[str | None] = mapped_column(String(16))


class Invite(Base):
    """A one-time code that binds whoever redeems it to an agency and a role."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(_CODE), unique=True)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    role: Mapped[str] = mapped_column(String(_STATUS))  # OfficerRole
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    redeemed_by: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    redeemed_at: Mapped[datetime | None]


class OfficerGroup(Base):
    """A group chat of an agency's officers and what it is for ("triage", "complaints")."""

    __tablename__ = "officer_groups"
    __table_args__ = (UniqueConstraint("channel", "chat_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"), index=True)
    channel: Mapped[str] = mapped_column(String(_STATUS), default="telegram")
    chat_id: Mapped[str] = mapped_column(String(_ID))
    purpose: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class Contact(Base):
    """A citizen on one channel. `last_inbound_at` drives WhatsApp's 24-hour window."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(_STATUS))
    platform_user_id: Mapped[str] = mapped_column(String(_ID))
    chat_id: Mapped[str] = mapped_column(String(_ID))
    locale: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    consent_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]


class Case(Base):
    """A report under one service standard of one agency.

    `priority` 0 is an emergency (a life at risk); lower sorts first; 2 when not given.
    `subject` holds the protected person's data (age, sex, condition) and never goes to a group
    chat. `track` is a standard's variant (Bangka Belitung's A/B).
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index(None, "agency_code", "status", "priority", "received_at"),
        Index(None, "assigned_officer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    standard_code: Mapped[str] = mapped_column(String(_CODE))
    track: Mapped[str | None] = mapped_column(String(_STATUS))
    category: Mapped[str] = mapped_column(String(_CODE))
    priority: Mapped[int] = mapped_column(Integer, default=2)
    status: Mapped[str] = mapped_column(String(_STATUS), default="new")  # CaseStatus
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    province: Mapped[str | None] = mapped_column(String(200))
    kabupaten: Mapped[str | None] = mapped_column(String(200))
    kecamatan: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    subject: Mapped[dict[str, Any]] = mapped_column(default=_json_dict)
    photo_ref: Mapped[str | None] = mapped_column(String(512))
    reporter_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    assigned_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    group_message_ref: Mapped[str | None] = mapped_column(String(_ID))
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=_json_dict)


class CaseEvent(Base):
    """One line of a case's audit log. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "case_events"
    __table_args__ = (Index(None, "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime]
    actor_kind: Mapped[str] = mapped_column(String(_STATUS))  # ActorKind
    actor_id: Mapped[str | None] = mapped_column(String(_ID))
    kind: Mapped[str] = mapped_column(String(_CODE))
    data: Mapped[dict[str, Any]] = mapped_column(default=_json_dict)


class Complaint(Base):
    """A complaint (pengaduan) about a service, a case or an office; answered within 2x24 h."""

    __tablename__ = "complaints"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 4)", name="rating"),
        Index(None, "agency_code", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    agency_code: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    about: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(_STATUS), default="open")  # ComplaintStatus
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    rating: Mapped[int | None] = mapped_column(Integer)  # Survei Kepuasan Masyarakat, 1-4
    handler_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    closed_at: Mapped[datetime | None]


class Deadline(Base):
    """A computed deadline of a case or complaint; `met_at` is set when it is kept."""

    __tablename__ = "deadlines"
    __table_args__ = (
        Index(None, "subject_kind", "subject_id"),
        Index(None, "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(_STATUS))  # DeadlineSubject
    subject_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))  # DeadlineKind
    due_at: Mapped[datetime]
    met_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(_STATUS), default="open")  # DeadlineStatus


class Reminder(Base):
    """One reminder to send at `due_at`; the sweep claims due rows and sends each once."""

    __tablename__ = "reminders"
    __table_args__ = (
        Index(None, "status", "due_at"),
        Index(None, "deadline_id"),
        Index(None, "case_id"),
        Index(None, "complaint_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadlines.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    kind: Mapped[str] = mapped_column(String(_CODE))
    audience: Mapped[str] = mapped_column(String(_STATUS))  # ReminderAudience
    recipient: Mapped[str | None] = mapped_column(String(_ID))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(_STATUS), default="pending")  # ReminderStatus
    claimed_by: Mapped[str | None] = mapped_column(String(_CODE))
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(default=_json_dict)


class InboxItem(Base):
    """One platform update as received; unique per (channel, platform_id) so redeliveries
    are no-ops."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "platform_id"),
        Index(None, "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(_STATUS))
    platform_id: Mapped[str] = mapped_column(String(_ID))
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=_json_dict)
    status: Mapped[str] = mapped_column(String(_STATUS), default="pending")  # InboxStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(_CODE))
    claimed_until: Mapped[datetime | None]


class OutboxMessage(Base):
    """One `OutboundMessage` waiting to go out. `seq` orders the messages of one chat: only the
    lowest unsent one of a chat is ever handed to a sender."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("channel", "chat_id", "seq"),
        Index(None, "status", "next_attempt_at"),
        # "Is an earlier message of this chat unsent?" without reading the chat's sent history.
        Index(None, "channel", "chat_id", "status", "seq"),
        Index(None, "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(_STATUS))
    chat_id: Mapped[str] = mapped_column(String(_ID))
    seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(default=_json_dict)
    status: Mapped[str] = mapped_column(String(_STATUS), default="pending")  # OutboxStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    platform_message_ids: Mapped[list[str] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(_CODE))
    claimed_until: Mapped[datetime | None]
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))


class ConversationSession(Base):
    """A citizen's or officer's conversation on one channel: flow, step and answers so far.

    At most one `active` session per (channel, user_id): a partial unique index on both
    dialects.
    """

    __tablename__ = "conversation_sessions"
    __table_args__ = (
        Index(
            "uq_conversation_sessions_active",
            "channel",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index(None, "status", "expires_at"),
        Index(None, "status", "nudge_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(_STATUS))
    user_id: Mapped[str] = mapped_column(String(_ID))
    chat_id: Mapped[str] = mapped_column(String(_ID))
    flow: Mapped[str] = mapped_column(String(_CODE))
    step: Mapped[str] = mapped_column(String(_CODE))
    answers: Mapped[dict[str, Any]] = mapped_column(default=_json_dict)
    locale: Mapped[str] = mapped_column(String(16))
    state: Mapped[dict[str, Any]] = mapped_column(default=_json_dict)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    nudge_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(_STATUS), default="active")  # SessionStatus


class NumberCounter(Base):
    """The last number handed out per series ("LPR-2026", "outbox:telegram:42").

    An upsert that increments and returns the value takes a row lock (PostgreSQL) or the write
    lock (SQLite) until commit, so numbers are unique under concurrency and, per series, given
    out in commit order.
    """

    __tablename__ = "number_counters"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
