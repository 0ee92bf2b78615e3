"""WhatsApp's 24-hour customer service window and the template used outside it.

A business may send free-form messages to a user only within 24 hours of that user's last
message; after that only an approved template is delivered (Meta answers error 131047
otherwise). The last inbound time is `contacts.last_inbound_at`, written by the inbox.

Template contract (create both in WhatsApp Manager, category "utility", language
`LAPORBOT_WHATSAPP_TEMPLATE_LANGUAGE`): the follow-up (`LAPORBOT_WHATSAPP_FOLLOWUP_TEMPLATE`) and
the reminder (`LAPORBOT_WHATSAPP_REMINDER_TEMPLATE`) each have a body with two parameters:
`{{1}}` the case number (or `-`), `{{2}}` the message text on one line.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from laporbot.messages import OutboundMessage
from laporbot.settings import Settings

WINDOW = timedelta(hours=24)
NO_REFERENCE = "-"


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message may still go: the user wrote less than 24 hours ago."""
    if last_inbound_at is None:
        return False
    # A time slightly ahead of `now` (clocks of two workers) counts as open.
    return now - last_inbound_at < WINDOW


def choose_message(
    outbound: OutboundMessage,
    last_inbound_at: datetime | None,
    now: datetime,
    settings: Settings,
    *,
    reminder: bool = False,
    reference: str | None = None,
) -> OutboundMessage:
    """`outbound` as it may be sent now: unchanged inside the window (or when it already is a
    template), else the follow-up (or reminder) template carrying its text as a parameter.

    Buttons, photo and location request cannot travel in the template and are dropped; the
    citizen's answer to the template reopens the window and the conversation re-asks.
    """
    if outbound.channel != "whatsapp" or outbound.template:
        return outbound
    if window_open(last_inbound_at, now):
        return outbound
    return as_template(outbound, settings, reminder=reminder, reference=reference)


def as_template(
    outbound: OutboundMessage,
    settings: Settings,
    *,
    reminder: bool = False,
    reference: str | None = None,
) -> OutboundMessage:
    """`outbound` as the follow-up (or reminder) template carrying its text as a parameter."""
    name = settings.whatsapp_reminder_template if reminder else settings.whatsapp_followup_template
    return replace(
        outbound,
        buttons=(),
        request_location=False,
        photo=None,
        edit_of=None,
        template=name,
        template_params=(reference or NO_REFERENCE, " ".join(outbound.text.split())),
    )
