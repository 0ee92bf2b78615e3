"""Initial schema: every table, plus triggers that keep case_events append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:43:25.979435
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("code", name=op.f("uq_agencies_code")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("platform_user_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint(
            "channel", "platform_user_id", name=op.f("uq_contacts_channel_platform_user_id")
        ),
    )
    op.create_table(
        "conversation_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nudge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_sessions")),
    )
    op.create_index(
        op.f("ix_conversation_sessions_status_expires_at"),
        "conversation_sessions",
        ["status", "expires_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_conversation_sessions_status_nudge_at"),
        "conversation_sessions",
        ["status", "nudge_at"],
        unique=False,
    )
    op.create_index(
        "uq_conversation_sessions_active",
        "conversation_sessions",
        ["channel", "user_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadlines")),
    )
    op.create_index(
        op.f("ix_deadlines_status_due_at"), "deadlines", ["status", "due_at"], unique=False
    )
    op.create_index(
        op.f("ix_deadlines_subject_kind_subject_id"),
        "deadlines",
        ["subject_kind", "subject_id"],
        unique=False,
    )
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("platform_id", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
        sa.UniqueConstraint("channel", "platform_id", name=op.f("uq_inbox_channel_platform_id")),
    )
    op.create_index(op.f("ix_inbox_status_id"), "inbox", ["status", "id"], unique=False)
    op.create_table(
        "number_counters",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_number_counters")),
    )
    op.create_table(
        "officer_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_code"], ["agencies.code"], name=op.f("fk_officer_groups_agency_code_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officer_groups")),
        sa.UniqueConstraint(
            "channel", "chat_id", "purpose", name=op.f("uq_officer_groups_channel_chat_id_purpose")
        ),
    )
    op.create_index(
        op.f("ix_officer_groups_agency_code"), "officer_groups", ["agency_code"], unique=False
    )
    op.create_table(
        "officers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("telegram_user_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_code"], ["agencies.code"], name=op.f("fk_officers_agency_code_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officers")),
        sa.UniqueConstraint(
            "agency_code", "telegram_user_id", name=op.f("uq_officers_agency_code_telegram_user_id")
        ),
    )
    op.create_index(
        op.f("ix_officers_telegram_user_id"), "officers", ["telegram_user_id"], unique=False
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("standard_code", sa.String(length=64), nullable=False),
        sa.Column("track", sa.String(length=16), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("province", sa.String(length=200), nullable=True),
        sa.Column("kabupaten", sa.String(length=200), nullable=True),
        sa.Column("kecamatan", sa.String(length=200), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("photo_ref", sa.String(length=512), nullable=True),
        sa.Column("reporter_contact_id", sa.Integer(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_officer_id", sa.Integer(), nullable=True),
        sa.Column("group_message_ref", sa.String(length=128), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_code"], ["agencies.code"], name=op.f("fk_cases_agency_code_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["assigned_officer_id"],
            ["officers.id"],
            name=op.f("fk_cases_assigned_officer_id_officers"),
        ),
        sa.ForeignKeyConstraint(
            ["reporter_contact_id"],
            ["contacts.id"],
            name=op.f("fk_cases_reporter_contact_id_contacts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("number", name=op.f("uq_cases_number")),
    )
    op.create_index(
        op.f("ix_cases_agency_code_status_priority_received_at"),
        "cases",
        ["agency_code", "status", "priority", "received_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_cases_assigned_officer_id"), "cases", ["assigned_officer_id"], unique=False
    )
    op.create_index(
        op.f("ix_cases_reporter_contact_id"), "cases", ["reporter_contact_id"], unique=False
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("redeemed_by", sa.Integer(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_code"], ["agencies.code"], name=op.f("fk_invites_agency_code_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["officers.id"], name=op.f("fk_invites_created_by_officers")
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_by"], ["officers.id"], name=op.f("fk_invites_redeemed_by_officers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("code", name=op.f("uq_invites_code")),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(
        op.f("ix_case_events_case_id_id"), "case_events", ["case_id", "id"], unique=False
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("about", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("handler_officer_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 4)", name=op.f("ck_complaints_rating")
        ),
        sa.ForeignKeyConstraint(
            ["agency_code"], ["agencies.code"], name=op.f("fk_complaints_agency_code_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["officers.id"], name=op.f("fk_complaints_answered_by_officers")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_complaints_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_complaints_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["handler_officer_id"],
            ["officers.id"],
            name=op.f("fk_complaints_handler_officer_id_officers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("number", name=op.f("uq_complaints_number")),
    )
    op.create_index(
        op.f("ix_complaints_agency_code_status_received_at"),
        "complaints",
        ["agency_code", "status", "received_at"],
        unique=False,
    )
    op.create_index(op.f("ix_complaints_case_id"), "complaints", ["case_id"], unique=False)
    op.create_index(op.f("ix_complaints_contact_id"), "complaints", ["contact_id"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("platform_message_ids", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_outbox_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint(
            "channel", "chat_id", "seq", name=op.f("uq_outbox_channel_chat_id_seq")
        ),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_outbox_dedup_key")),
    )
    op.create_index(op.f("ix_outbox_case_id"), "outbox", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_outbox_status_next_attempt_at"),
        "outbox",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deadline_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_reminders_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_reminders_complaint_id_complaints")
        ),
        sa.ForeignKeyConstraint(
            ["deadline_id"], ["deadlines.id"], name=op.f("fk_reminders_deadline_id_deadlines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
    )
    op.create_index(op.f("ix_reminders_case_id"), "reminders", ["case_id"], unique=False)
    op.create_index(op.f("ix_reminders_complaint_id"), "reminders", ["complaint_id"], unique=False)
    op.create_index(op.f("ix_reminders_deadline_id"), "reminders", ["deadline_id"], unique=False)
    op.create_index(
        op.f("ix_reminders_status_due_at"), "reminders", ["status", "due_at"], unique=False
    )
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_index(op.f("ix_reminders_status_due_at"), table_name="reminders")
    op.drop_index(op.f("ix_reminders_deadline_id"), table_name="reminders")
    op.drop_index(op.f("ix_reminders_complaint_id"), table_name="reminders")
    op.drop_index(op.f("ix_reminders_case_id"), table_name="reminders")
    op.drop_table("reminders")
    op.drop_index(op.f("ix_outbox_status_next_attempt_at"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_case_id"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_complaints_contact_id"), table_name="complaints")
    op.drop_index(op.f("ix_complaints_case_id"), table_name="complaints")
    op.drop_index(op.f("ix_complaints_agency_code_status_received_at"), table_name="complaints")
    op.drop_table("complaints")
    op.drop_index(op.f("ix_case_events_case_id_id"), table_name="case_events")
    op.drop_table("case_events")
    op.drop_table("invites")
    op.drop_index(op.f("ix_cases_reporter_contact_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_assigned_officer_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_agency_code_status_priority_received_at"), table_name="cases")
    op.drop_table("cases")
    op.drop_index(op.f("ix_officers_telegram_user_id"), table_name="officers")
    op.drop_table("officers")
    op.drop_index(op.f("ix_officer_groups_agency_code"), table_name="officer_groups")
    op.drop_table("officer_groups")
    op.drop_table("number_counters")
    op.drop_index(op.f("ix_inbox_status_id"), table_name="inbox")
    op.drop_table("inbox")
    op.drop_index(op.f("ix_deadlines_subject_kind_subject_id"), table_name="deadlines")
    op.drop_index(op.f("ix_deadlines_status_due_at"), table_name="deadlines")
    op.drop_table("deadlines")
    op.drop_index(
        "uq_conversation_sessions_active",
        table_name="conversation_sessions",
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_index(
        op.f("ix_conversation_sessions_status_nudge_at"), table_name="conversation_sessions"
    )
    op.drop_index(
        op.f("ix_conversation_sessions_status_expires_at"), table_name="conversation_sessions"
    )
    op.drop_table("conversation_sessions")
    op.drop_table("contacts")
    op.drop_table("agencies")


# The audit log refuses UPDATE and DELETE in the database itself, so no code path (a future
# repository function, an ad-hoc SQL session) can rewrite history. TRUNCATE stays possible for
# an administrator who means it.
_APPEND_ONLY_MESSAGE = "case_events is append-only"


def _create_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}: % refused', TG_OP;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events "
            "FOR EACH ROW EXECUTE FUNCTION case_events_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER case_events_no_{action.lower()} BEFORE {action} ON case_events "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END"
            )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER case_events_append_only ON case_events")
        op.execute("DROP FUNCTION case_events_append_only()")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER case_events_no_{action}")
