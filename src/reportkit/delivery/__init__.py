"""Delivery: the emails of reports, roll-ups and reminders, each sent at most once.

The next stages use what this package names; its modules are its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportkit._lazy import attach

if TYPE_CHECKING:  # the names, for type checkers; they load on first use
    from reportkit.delivery.body import MailBody as MailBody
    from reportkit.delivery.body import district_body as district_body
    from reportkit.delivery.body import reminder_body as reminder_body
    from reportkit.delivery.body import school_body as school_body
    from reportkit.delivery.body import unit_body as unit_body
    from reportkit.delivery.checks import NotSendable as NotSendable
    from reportkit.delivery.checks import ReportFile as ReportFile
    from reportkit.delivery.checks import check_report as check_report
    from reportkit.delivery.outcome import DeliveryResult as DeliveryResult
    from reportkit.delivery.outcome import MessageOutcome as MessageOutcome
    from reportkit.delivery.outcome import summary_lines as summary_lines
    from reportkit.delivery.send import send_reminders as send_reminders
    from reportkit.delivery.send import send_reports as send_reports
    from reportkit.delivery.transport import compose as compose
    from reportkit.delivery.transport import get_sender as get_sender
    from reportkit.delivery.transport import register_sender as register_sender

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "DeliveryResult": "outcome",
        "MailBody": "body",
        "MessageOutcome": "outcome",
        "NotSendable": "checks",
        "ReportFile": "checks",
        "check_report": "checks",
        "compose": "transport",
        "district_body": "body",
        "get_sender": "transport",
        "register_sender": "transport",
        "reminder_body": "body",
        "school_body": "body",
        "send_reminders": "send",
        "send_reports": "send",
        "summary_lines": "outcome",
        "unit_body": "body",
    },
)
