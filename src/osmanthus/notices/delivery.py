"""The delivery worker: sends the outbox's notices by e-mail over SMTP.

Delivery is at least once. An outbox row is marked sent in its own transaction as soon
as the server has acknowledged the message (250 after DATA), so a notice the server
acknowledged is not sent again, unless the worker dies in the instant between the
acknowledgement and that commit; then it is sent once more with the same ``Message-ID``
(``<notice-N.LEDGER@domain>``, the idempotency key), by which a mail system drops the
copy. A failure is retried with a doubling wait (1, 2, 4 ... minutes, at most a day)
until ``notice_max_attempts``; a permanent refusal (5xx) fails at once. An expiry notice
of a record retracted or corrected meanwhile is withdrawn, not sent.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from osmanthus.core import Actor
from osmanthus.i18n import Catalogues
from osmanthus.ledger import Delivery, Ledger, due_deliveries, mark_delivery
from osmanthus.ledger.notices import ledger_tag, replaced_records
from osmanthus.notices.texts import FOOTER, render
from osmanthus.policy.names import Names

__all__ = ["DELIVERY", "DeliveryReport", "Mailer", "deliver_due"]

DELIVERY = Actor("platform", "notice-delivery")


@dataclass(frozen=True)
class Mailer:
    """How to reach the SMTP server."""

    host: str
    port: int = 25
    sender: str = "notices@osmanthus.invalid"
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    def connect(self) -> smtplib.SMTP:
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.starttls:
            client.starttls()
        if self.username:
            client.login(self.username, self.password or "")
        return client


@dataclass(frozen=True)
class DeliveryReport:
    """What one round of delivery did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    withdrawn: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.sent + other.sent,
            self.retried + other.retried,
            self.failed + other.failed,
            self.withdrawn + other.withdrawn,
        )


def backoff(attempts: int) -> dt.timedelta:
    """The wait before attempt ``attempts + 1``: 1, 2, 4 ... minutes, at most a day."""
    return min(dt.timedelta(minutes=2**attempts), dt.timedelta(days=1))


def compose(
    ledger: Ledger, delivery: Delivery, mailer: Mailer, catalogues: Catalogues, tag: str
) -> EmailMessage:
    """The e-mail of one outbox row, in the language the resident chose."""
    language = delivery.language
    names = Names.of(ledger.policy.latest, language)
    gettext = catalogues.get(language).ugettext
    shown = render(delivery.notice, gettext, names)
    message = EmailMessage()
    message["From"] = mailer.sender
    message["To"] = delivery.address
    message["Subject"] = shown.subject
    message["Date"] = format_datetime(ledger.now())
    domain = mailer.sender.rpartition("@")[2] or "osmanthus.invalid"
    message["Message-ID"] = f"<notice-{delivery.notice.id}.{tag}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = "zh-Hans" if language == "zh" else "en"
    body = "\n".join([*shown.lines, "", "-- ", gettext(FOOTER)])
    message.set_content(body)
    return message


def deliver_due(
    ledger: Ledger,
    mailer: Mailer,
    *,
    catalogues: Catalogues,
    max_attempts: int = 8,
    limit: int = 100,
    on_sent: Callable[[Delivery], None] | None = None,
) -> DeliveryReport:
    """Send the outbox rows due now (at most ``limit``); return what happened."""
    now, today = ledger.now(), ledger.today()
    due = due_deliveries(ledger.engine, now, today, limit=limit)
    if not due:
        return DeliveryReport()
    report = DeliveryReport()
    gone = replaced_records(
        ledger.engine,
        [int(d.notice.payload["record"]) for d in due if d.notice.kind == "record.expired"],
    )
    tag = ledger_tag(ledger.engine)
    try:
        client = mailer.connect()
    except (OSError, smtplib.SMTPException) as exc:
        for delivery in due:
            report += _retry(ledger, delivery, now, f"connect: {exc}", max_attempts)
        return report
    try:
        for delivery in due:
            if (
                delivery.notice.kind == "record.expired"
                and delivery.notice.payload["record"] in gone
            ):
                mark_delivery(
                    ledger.engine,
                    delivery,
                    "withdrawn",
                    now=now,
                    error="the record was retracted or corrected",
                    actor=DELIVERY,
                )
                report += DeliveryReport(withdrawn=1)
                continue
            message = compose(ledger, delivery, mailer, catalogues, tag)
            try:
                client.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:
                report += _fail_or_retry(ledger, delivery, now, exc, max_attempts)
                continue
            except (smtplib.SMTPResponseException, smtplib.SMTPDataError) as exc:
                report += _fail_or_retry(ledger, delivery, now, exc, max_attempts)
                continue
            except (OSError, smtplib.SMTPException) as exc:  # the connection is gone
                report += _retry(ledger, delivery, now, str(exc), max_attempts)
                break
            mark_delivery(ledger.engine, delivery, "sent", now=ledger.now(), actor=DELIVERY)
            report += DeliveryReport(sent=1)
            if on_sent is not None:
                on_sent(delivery)
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return report


def _permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", 0)
    return isinstance(code, int) and 500 <= code < 600


def _fail_or_retry(
    ledger: Ledger, delivery: Delivery, now: dt.datetime, exc: Exception, max_attempts: int
) -> DeliveryReport:
    if _permanent(exc):
        mark_delivery(ledger.engine, delivery, "failed", now=now, error=str(exc), actor=DELIVERY)
        return DeliveryReport(failed=1)
    return _retry(ledger, delivery, now, str(exc), max_attempts)


def _retry(
    ledger: Ledger, delivery: Delivery, now: dt.datetime, error: str, max_attempts: int
) -> DeliveryReport:
    if delivery.attempts + 1 >= max_attempts:
        mark_delivery(ledger.engine, delivery, "failed", now=now, error=error, actor=DELIVERY)
        return DeliveryReport(failed=1)
    mark_delivery(
        ledger.engine,
        delivery,
        "pending",
        now=now,
        next_attempt_at=now + backoff(delivery.attempts),
        error=error,
        actor=DELIVERY,
    )
    return DeliveryReport(retried=1)
