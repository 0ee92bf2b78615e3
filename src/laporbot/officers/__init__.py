"""The officer side: invites and access, triage in the office group, case work and complaints
in private chats, questions to anonymous reporters, and the audit trail of it all.

`OfficerDesk` is the entry point: `handle_officer_inbound(session, inbound, now)` for the inbox
(before the citizen flows), `on_case_opened` / `on_complaint_filed` for the intake's hooks.
"""

from __future__ import annotations

from laporbot.officers.commands import OfficerDesk, parse_command

__all__ = ["OfficerDesk", "parse_command"]
