"""The group-message privacy rules (UU 11/2012 Pasal 19) live in `laporbot.privacy`, next to
the outbox that applies them to every message queued for a group; re-exported here for the
officer side."""

from __future__ import annotations

from laporbot.privacy import (
    PrivacyViolation,
    check_group_message,
    is_group_chat,
    leaks,
    protected_fragments,
)

__all__ = [
    "PrivacyViolation",
    "check_group_message",
    "is_group_chat",
    "leaks",
    "protected_fragments",
]
