"""A real SMTP server for the notice tests (aiosmtpd on 127.0.0.1), keeping every message
it acknowledged; ``refuse`` makes it answer RCPT with a code, ``stall`` holds RCPT until
released (a worker killed meanwhile sends nothing)."""

from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from web_fixtures import free_port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    refuse: str | None = None  # e.g. "450 mailbox busy" or "550 no such user"
    stall: threading.Event | None = None  # RCPT waits for it
    stalled: int = 0  # RCPTs that waited
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.stall is not None:
            import asyncio

            self.stalled += 1
            while not self.stall.is_set():
                await asyncio.sleep(0.05)
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted"

    def ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


@contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()
