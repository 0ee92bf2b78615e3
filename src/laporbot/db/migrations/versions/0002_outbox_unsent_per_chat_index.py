"""Outbox: index (channel, chat_id, status, seq), so the per-chat order check of a claim does
not read the chat's whole sent history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_outbox_channel_chat_id_status_seq"),
        "outbox",
        ["channel", "chat_id", "status", "seq"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_channel_chat_id_status_seq"), table_name="outbox")
