"""Notices to residents: what happened to their records, disputes and perks, in their
inbox and by e-mail (:mod:`~osmanthus.notices.texts`, :mod:`~osmanthus.notices.relay`,
:mod:`~osmanthus.notices.perks`, :mod:`~osmanthus.notices.delivery`)."""

from osmanthus.notices.delivery import DELIVERY, DeliveryReport, Mailer, deliver_due
from osmanthus.notices.relay import RELAY, relay_records, skip_records
from osmanthus.notices.texts import KINDS, Rendered, render

__all__ = [
    "DELIVERY",
    "KINDS",
    "RELAY",
    "DeliveryReport",
    "Mailer",
    "Rendered",
    "deliver_due",
    "relay_records",
    "render",
    "skip_records",
]
