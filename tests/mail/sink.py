"""A real SMTP server (aiosmtpd) in the test's event loop that records what it accepts.

It can refuse chosen recipients with a chosen reply, delay RCPT replies, refuse or delay DATA, require
a login, count connections (and tell how many are open), and go down and come back on the same port.
It offers PIPELINING unless told not to (aiosmtpd reads pipelined commands one line at a time and
sends each reply on its own, so a client gets them in as many pieces as the timing makes), and DSN
(RFC 3461) when told to, recording the parameters of MAIL and RCPT.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# The parameters RFC 3461 adds to MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT).
DSN_PARAMETERS = ("RET", "ENVID", "NOTIFY", "ORCPT")


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    data: bytes
    at: float = field(default_factory=time.monotonic)
    # As aiosmtpd hands them over: upper-cased, e.g. ["SIZE=123", "RET=HDRS", "ENVID=…"].
    mail_options: list[str] = field(default_factory=list)
    rcpt_options: list[str] = field(default_factory=list)


class _Server(SMTP):
    """aiosmtpd's server, which refuses every MAIL and RCPT parameter it does not know (555); with
    `dsn`, it takes RFC 3461's, as a relay that offers DSN does."""

    def __init__(self, *args: Any, dsn: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dsn = dsn

    def _getparams(self, params: Sequence[str]) -> dict[str, str | bool] | None:
        parsed: dict[str, str | bool] | None = super()._getparams(params)
        if parsed is not None and self.dsn:
            for name in DSN_PARAMETERS:
                parsed.pop(name, None)
        return parsed


@dataclass
class Sink:
    host: str = "127.0.0.1"
    port: int = 0
    credentials: tuple[str, str] | None = None
    recipient_replies: dict[str, str] = field(default_factory=dict)
    rcpt_delay: float = 0.0
    data_reply: str | None = None
    data_delay: float = 0.0
    smtputf8: bool = True
    pipelining: bool = True
    dsn: bool = False
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    _server: asyncio.Server | None = None
    _protocols: list[Any] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def open_connections(self) -> int:
        return sum(1 for p in self._protocols if p.transport is not None and not p.transport.is_closing())

    @property
    def url(self) -> str:
        login = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"smtp://{login}{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every open connection, as a crashed relay would."""
        assert self._server is not None
        self._server.close()
        for protocol in self._protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        self._protocols.clear()
        await self._server.wait_closed()
        self._server = None

    def _new_protocol(self) -> Any:
        self.connections += 1
        with warnings.catch_warnings():
            # AUTH without TLS is what this loopback sink is for; aiosmtpd warns about it.
            warnings.simplefilter("ignore", UserWarning)
            protocol = _Server(
                self,
                dsn=self.dsn,
                hostname="sink.test",
                enable_SMTPUTF8=self.smtputf8,
                authenticator=self._authenticate if self.credentials else None,
                auth_required=self.credentials is not None,
                auth_require_tls=False,
                loop=asyncio.get_running_loop(),
            )
        self._protocols.append(protocol)
        return protocol

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        assert self.credentials is not None
        given = (auth_data.login.decode(), auth_data.password.decode())
        # handled=False: aiosmtpd answers 535 itself on failure.
        return AuthResult(success=given == self.credentials, handled=False)

    # aiosmtpd looks the hooks up by these names.
    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when no hook replaces its replies
        offered = ["250-PIPELINING"] if self.pipelining else []
        if self.dsn:
            offered.append("250-DSN")
        return [*responses[:-1], *offered, responses[-1]]

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        reply = self.recipient_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply is not None:
            return self.data_reply
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                mail_options=list(envelope.mail_options),
                rcpt_options=list(envelope.rcpt_options),
            )
        )
        return "250 2.0.0 queued"
