"""``osmanthus notices ...``: the delivery worker, and a resident's notice address set at
a service counter."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from osmanthus.cli.base import OPERATOR, IdArg, app, cli_settings, domain_errors, open_ledger, out

notices_app = typer.Typer(
    help="Notices to residents: deliver the outbox by e-mail, set an address.",
    no_args_is_help=True,
)
app.add_typer(notices_app, name="notices")


@notices_app.command("deliver")
@domain_errors
def notices_deliver(
    ctx: typer.Context,
    loop: Annotated[
        bool, typer.Option("--loop/--once", help="Keep running (a service) or run once.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="--loop: seconds between rounds.")
    ] = 30.0,
) -> None:
    """Write the notices of records committed since the last round (the relay), then
    send every notice due by e-mail over SMTP (smtp_host), with retries and backoff.
    Without smtp_host, notices stay in the residents' inboxes."""
    from osmanthus.i18n import Catalogues
    from osmanthus.notices import DeliveryReport, Mailer, deliver_due, relay_records

    settings = cli_settings(ctx)
    mailer = None
    if settings.smtp_host:
        password = (
            settings.smtp_password_file.read_text(encoding="utf-8").strip()
            if settings.smtp_password_file
            else None
        )
        mailer = Mailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=password,
        )
    catalogues = Catalogues()
    with open_ledger(ctx) as ledger:
        while True:
            written = relay_records(ledger)
            report = DeliveryReport()
            if mailer is not None:
                while True:  # every row due now, a hundred at a time
                    round_ = deliver_due(
                        ledger,
                        mailer,
                        catalogues=catalogues,
                        max_attempts=settings.notice_max_attempts,
                    )
                    report += round_
                    if round_.sent + round_.failed + round_.withdrawn == 0:
                        break
            out.print(
                f"notices: {written} new from records; e-mail: {report.sent} sent, "
                f"{report.retried} to retry, {report.failed} failed, "
                f"{report.withdrawn} withdrawn" + ("" if mailer else " (no smtp_host: inbox only)"),
                highlight=False,
            )
            if not loop:
                return
            time.sleep(interval)


@notices_app.command("contact")
@domain_errors
def notices_contact(
    ctx: typer.Context,
    national_id: IdArg,
    email: Annotated[str, typer.Argument(help="The address ('' to remove it).")],
    language: Annotated[str, typer.Option(help="Language of the e-mails: zh or en.")] = "zh",
) -> None:
    """Set where a resident's notices go by e-mail (at a service counter); audited."""
    from osmanthus.ledger import set_contact

    with open_ledger(ctx) as ledger:
        set_contact(
            ledger.engine,
            ledger.pseudonym_of(national_id),
            email,
            language,
            actor=OPERATOR,
            now=ledger.now(),
        )
    out.print("notice address removed" if not email.strip() else f"notices go to {email.strip()}")
