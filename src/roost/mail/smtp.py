"""Sending over SMTP: the Transport protocol and a pooled aiosmtplib implementation.

Failures are classified where they happen (the Mailman rule): a 5xx reply other than 552 is
permanent; a 4xx reply, 552 (storage exceeded), a timeout, a refused or reset connection are
transient. A failure to set up the session (connect, TLS, EHLO, login) says nothing about the
recipients: it is `unreachable` whatever its code, and the sender waits for the relay rather
than counting it against the message.

A send may ask for delivery status notifications (RFC 3461): with a relay that offers the DSN
extension, MAIL carries RET and ENVID and each RCPT carries NOTIFY and ORCPT; a relay that
does not offer it gets the plain commands, and reports only failures, as it always did.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol

from roost.config import Settings
from roost.mail.headers import normalize_address

_CLOSING = 421  # the server is closing the connection (RFC 5321 §3.8)
_STORAGE_EXCEEDED = 552  # a 5xx that Mailman, like most senders, treats as temporary
_COMPLETED = 250
_WILL_FORWARD = 251
_START_INPUT = 354
_INVALID_RESPONSE = -1  # aiosmtplib's code for a reply that cannot be parsed
_MAX_REPLY = 8192 * 4  # as aiosmtplib bounds one reply
# Any line ending (CRLF, a lone LF, a lone CR), as aiosmtplib's `data()` normalizes them.
_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# RFC 3461 §4.4: the ENVID parameter's xtext is at most 100 characters.
_MAX_ENVELOPE_ID = 100
# Reports on success as well as on failure and delay (failure and delay are a relay's default).
_NOTIFY = b" NOTIFY=SUCCESS,FAILURE,DELAY"


class DeliveryStatus(StrEnum):
    """What an attempt achieved: accepted by the relay, worth retrying, or final (a bounce); or
    nothing at all, because the relay could not be reached."""

    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNREACHABLE = "unreachable"


def classify(code: int | None) -> DeliveryStatus:
    """The status of a failed attempt from its SMTP reply code (None: no reply, e.g. a timeout)."""
    if code is not None and 500 <= code < 600 and code != _STORAGE_EXCEEDED:
        return DeliveryStatus.PERMANENT
    return DeliveryStatus.TRANSIENT


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What became of one attempt: status, the server's code (None without a reply) and message.

    `refused` lists recipients the server turned down one by one, each with its own outcome; the
    top-level status is that of the others. When every recipient was refused, the status is the
    least final of theirs (transient if any is transient).
    """

    status: DeliveryStatus
    code: int | None
    message: str
    refused: Mapping[str, SendOutcome] = field(default_factory=dict)


def xtext(value: str) -> str:
    """`value` as RFC 3461 §4 xtext: printable ASCII stays, except "+" and "=", which, like every
    other byte (of its UTF-8), become "+" and two upper-case hex digits."""
    if value.isascii() and value.isprintable() and not any(c in value for c in " +="):
        return value  # the usual case (an envelope id, an ASCII address): nothing to escape
    return "".join(
        chr(byte) if 0x21 <= byte <= 0x7E and byte not in b"+=" else f"+{byte:02X}" for byte in value.encode()
    )


@dataclass(frozen=True, slots=True)
class DsnRequest:
    """Delivery status notifications to ask the relay for (RFC 3461), when it offers the DSN extension.

    The relay reports success, failure and delay to the envelope sender, each report with the
    original message's headers only (RET=HDRS) and `envelope_id` (sent as ENVID) in its
    Original-Envelope-Id field, which names the message even where the return path does not.
    """

    envelope_id: str

    def __post_init__(self) -> None:
        if not self.envelope_id or len(xtext(self.envelope_id)) > _MAX_ENVELOPE_ID:
            raise ValueError(f"an envelope id takes 1 to {_MAX_ENVELOPE_ID} characters of xtext")

    @property
    def mail_parameters(self) -> bytes:
        return b" RET=HDRS ENVID=" + xtext(self.envelope_id).encode("ascii")

    @staticmethod
    def rcpt_parameters(recipient: str) -> bytes:
        """NOTIFY, and ORCPT naming the recipient as given. ORCPT is optional and its rfc822 type
        takes ASCII only, so a non-ASCII address goes without it (rather than in RFC 6533's utf-8 form)."""
        if not recipient.isascii():
            return _NOTIFY
        return _NOTIFY + b" ORCPT=rfc822;" + xtext(recipient).encode("ascii")


def data_payload(message: bytes) -> bytes:
    """The message as it travels after DATA (RFC 5321 §4.5.2): lines ending in CRLF (a lone CR or LF
    becomes one), a dot doubled at the start of every line, a final CRLF and the ending `.` CRLF.

    What aiosmtplib's `data()` makes of a message with two regular expressions; a rendered message
    already ends its lines with CRLF, which three counts confirm, and stuffing is one replace.
    """
    crlf = message.count(b"\r\n")
    if message.count(b"\r") != crlf or message.count(b"\n") != crlf:
        message = _LINE_ENDINGS.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    if message.startswith(b"."):
        message = b"." + message
    return message.replace(b"\n.", b"\n..") + b".\r\n"


def _failure(code: int | None, message: str) -> SendOutcome:
    """A failed attempt classified by the Mailman rule."""
    return SendOutcome(classify(code), code, message)


def _check_mail(reply: aiosmtplib.SMTPResponse, sender: str) -> None:
    """Go on only when MAIL was accepted; a relay closing the connection at once dropped it while idle."""
    if reply.code == _CLOSING:
        raise _StaleConnection(_failure(reply.code, reply.message))
    if reply.code != _COMPLETED:
        raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)


def _refusals(recipients: list[str], replies: list[aiosmtplib.SMTPResponse]) -> dict[str, SendOutcome]:
    """The recipients the relay refused, by their replies to RCPT; _AllRefused when none is left."""
    refused = {
        recipient: _failure(reply.code, reply.message)
        for recipient, reply in zip(recipients, replies, strict=True)
        if reply.code not in (_COMPLETED, _WILL_FORWARD)
    }
    if len(refused) == len(recipients):
        outcomes = list(refused.values())
        worst = next((o for o in outcomes if o.status is DeliveryStatus.TRANSIENT), outcomes[0])
        raise _AllRefused(SendOutcome(worst.status, worst.code, worst.message, refused))
    return refused


class Transport(Protocol):
    """Whatever carries rendered messages away: SMTP, or capture for the UI and tests."""

    async def send(
        self, envelope_from: str, recipients: Sequence[str], message: bytes, *, dsn: DsnRequest | None = None
    ) -> SendOutcome:
        """Deliver one message to its envelope recipients and say what happened; never raises for mail errors.

        `dsn` asks for delivery status notifications where the transport can ask for them.
        """
        ...

    async def close(self) -> None:
        """Release connections and other resources."""
        ...


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to reach the relay; see `from_url` for the URL form."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse `smtp://user:pass@host:port`, `smtps://…` (implicit TLS) or `smtp://…?starttls=1`.

        Ports default to 465 for smtps, 587 with STARTTLS and 25 otherwise; user and password are
        percent-decoded. ValueError on anything else.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("the SMTP URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("the SMTP URL needs a host")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"starttls"}
        if unknown:
            raise ValueError(f"unknown SMTP URL option(s): {', '.join(sorted(unknown))}")
        starttls_value = query.get("starttls", ["0"])[-1].lower()
        if starttls_value not in _TRUE + _FALSE:
            raise ValueError("starttls must be 1 or 0")
        implicit_tls = parts.scheme == "smtps"
        starttls = starttls_value in _TRUE
        if implicit_tls and starttls:
            raise ValueError("smtps:// already uses TLS; starttls applies to smtp:// only")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError("the SMTP URL has an invalid port") from exc
        if port is None:
            port = 465 if implicit_tls else 587 if starttls else 25
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            implicit_tls=implicit_tls,
            starttls=starttls,
        )


class _StaleConnection(Exception):
    """The connection failed on the first command of a transaction: it was dropped while idle."""

    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


class _AllRefused(Exception):
    """Every recipient was refused; the transaction needs a reset before the connection is reused."""

    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass(slots=True)
class _Replies:
    """The replies to a group of pipelined commands, in order, and what cut them short, if anything."""

    received: list[aiosmtplib.SMTPResponse]
    error: aiosmtplib.SMTPException | None
    _taken: int = 0

    def next(self) -> aiosmtplib.SMTPResponse:
        """The reply to the next command; the error that cut the replies short when there is none."""
        if self._taken == len(self.received):
            raise self.error or aiosmtplib.SMTPServerDisconnected("Connection lost")
        self._taken += 1
        return self.received[self._taken - 1]


class _PipelinedReplies(asyncio.Protocol):
    """Reads the replies to pipelined commands (RFC 2920) for aiosmtplib, which reads one per command.

    aiosmtplib's protocol parses one reply per read and drops what arrives while a parsed reply
    waits to be taken: right for one command at a time, but with several commands in one write,
    replies that the relay sends apart would be lost. Set on the connection's transport in front
    of the client's `SMTPProtocol`, this hands every event through to it, except the data that
    arrive while `exchange` waits: those it keeps, however the relay cuts its replies into reads,
    and parses itself. aiosmtplib does everything else: connecting, TLS, EHLO, login, writing, RSET,
    QUIT, noticing the connection's end.
    """

    def __init__(self, protocol: SMTPProtocol, *, timeout: float) -> None:
        self._protocol = protocol
        self._timeout = timeout
        self._buffer = bytearray()
        self._expected = 0
        self._received: list[aiosmtplib.SMTPResponse] = []
        self._done: asyncio.Future[aiosmtplib.SMTPException | None] | None = None

    async def exchange(self, commands: bytes, replies: int) -> _Replies:
        """Write the commands at once and read `replies` replies; SMTPServerDisconnected when nothing
        could be written, SMTPReadTimeoutError when the replies did not all come in time."""
        if self._buffer:
            # Bytes beyond the replies asked for: the relay and the client disagree on where they are.
            raise aiosmtplib.SMTPServerDisconnected("the relay sent more replies than commands")
        loop = asyncio.get_running_loop()
        self._done = done = loop.create_future()
        self._expected, self._received = replies, []
        # A timer that ends the wait, cheaper than asyncio.timeout() around it (two exchanges a message).
        timer = loop.call_later(self._timeout, self._time_out)
        try:
            self._protocol.write(commands)
            error = await done
        finally:
            timer.cancel()
            self._done = None
        if isinstance(error, aiosmtplib.SMTPReadTimeoutError):
            raise error
        return _Replies(self._received, error)

    def data_received(self, data: bytes) -> None:
        if self._done is None:
            self._protocol.data_received(data)
            return
        self._buffer += data
        try:
            while len(self._received) < self._expected:
                reply = self._parse()
                if reply is None:
                    break
                self._received.append(reply)
        except aiosmtplib.SMTPResponseException as exc:
            self._finish(exc)
            return
        if len(self._received) == self._expected:
            self._finish(None)
        elif len(self._buffer) > _MAX_REPLY:
            self._finish(aiosmtplib.SMTPResponseException(_INVALID_RESPONSE, "Response too long"))

    def eof_received(self) -> bool | None:
        self._finish(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return self._protocol.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(aiosmtplib.SMTPServerDisconnected("Connection lost"))
        self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()

    def _time_out(self) -> None:
        self._finish(aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"))

    def _finish(self, error: aiosmtplib.SMTPException | None) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(error)

    def _parse(self) -> aiosmtplib.SMTPResponse | None:
        """One whole reply off the buffer (RFC 5321 §4.2: `code-text` lines, then `code text`), or None yet."""
        lines: list[bytes] = []
        offset = 0
        while True:
            end = self._buffer.find(b"\n", offset)
            if end < 0:
                return None
            line = bytes(self._buffer[offset : end + 1])
            offset = end + 1
            code = line[:3]
            if not code.isdigit():
                text = line.decode("utf-8", "ignore")
                raise aiosmtplib.SMTPResponseException(_INVALID_RESPONSE, f"Malformed SMTP response line: {text}")
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                break
        del self._buffer[:offset]
        return aiosmtplib.SMTPResponse(int(code), b"\n".join(lines).decode("utf-8", "surrogateescape"))


def _pipeline_of(client: aiosmtplib.SMTP) -> _PipelinedReplies | None:
    """The reader of pipelined replies set on the client's connection, if the relay offers PIPELINING."""
    transport = client.protocol.transport if client.protocol is not None else None
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, _PipelinedReplies) else None


class SmtpTransport:
    """SMTP through a pool of reused connections, at most `concurrency` at a time.

    Idle connections are kept for the next message; one the server dropped while idle is replaced
    and the message retried once on a fresh connection (nothing was accepted yet, so nothing can
    be delivered twice). Connections that fail or time out mid-transaction are closed.
    """

    def __init__(
        self, config: SmtpConfig, *, concurrency: int = 8, timeout: float = 30.0, local_hostname: str | None = None
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.config = config
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.connections_opened = 0
        self._slots = asyncio.Semaphore(concurrency)
        self._idle: list[aiosmtplib.SMTP] = []

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        """The transport ROOST_SMTP_URL, ROOST_SMTP_CONCURRENCY and ROOST_SMTP_TIMEOUT describe."""
        if not settings.smtp_url:
            raise ValueError("ROOST_SMTP_URL is not set")
        return cls(
            SmtpConfig.from_url(settings.smtp_url),
            concurrency=settings.smtp_concurrency,
            timeout=settings.smtp_timeout,
        )

    async def send(
        self, envelope_from: str, recipients: Sequence[str], message: bytes, *, dsn: DsnRequest | None = None
    ) -> SendOutcome:
        """Deliver the message; the outcome says sent, transient or permanent, with the server's reply.

        With `dsn`, a relay that offers DSN is asked for notifications; one that does not is not.
        """
        try:
            sender = normalize_address(envelope_from)
            addresses = [normalize_address(recipient) for recipient in recipients]
        except ValueError as exc:
            return SendOutcome(DeliveryStatus.PERMANENT, None, str(exc))
        if not addresses:
            return SendOutcome(DeliveryStatus.PERMANENT, None, "no recipients")
        payload = data_payload(message)
        async with self._slots:
            client = self._take_idle()
            if client is not None:
                try:
                    return await self._attempt(client, sender, addresses, payload, len(message), dsn)
                except _StaleConnection:
                    pass  # dropped while idle: retry once on a fresh connection
            try:
                client = await self._connect()
            except aiosmtplib.SMTPResponseException as exc:
                return SendOutcome(DeliveryStatus.UNREACHABLE, exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                return SendOutcome(DeliveryStatus.UNREACHABLE, None, str(exc) or type(exc).__name__)
            try:
                return await self._attempt(client, sender, addresses, payload, len(message), dsn)
            except _StaleConnection as exc:
                return exc.outcome

    async def close(self) -> None:
        """Say QUIT on every idle connection."""
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
            client.close()
        return None

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.config.host,
            port=self.config.port,
            username=self.config.username,
            password=self.config.password,
            use_tls=self.config.implicit_tls,
            start_tls=self.config.starttls,
            timeout=self.timeout,
            local_hostname=self.local_hostname,
        )
        await client.connect()
        self.connections_opened += 1
        if client.last_ehlo_response is None:
            # The extensions (SMTPUTF8, SIZE) must be known before the first MAIL FROM.
            try:
                await client.ehlo()
            except BaseException:
                client.close()
                raise
        protocol = client.protocol
        if client.supports_extension("pipelining") and protocol is not None and protocol.transport is not None:
            protocol.transport.set_protocol(_PipelinedReplies(protocol, timeout=self.timeout))
        return client

    async def _attempt(
        self,
        client: aiosmtplib.SMTP,
        sender: str,
        recipients: list[str],
        payload: bytes,
        size: int,
        dsn: DsnRequest | None,
    ) -> SendOutcome:
        """One transaction; the connection goes back to the pool if it is still usable afterwards."""
        reusable = False
        try:
            outcome = await self._transaction(client, sender, recipients, payload, size, dsn)
            reusable = True
            return outcome
        except _AllRefused as exc:
            reusable = await self._reset(client)
            return exc.outcome
        except aiosmtplib.SMTPResponseException as exc:
            reusable = exc.code != _CLOSING and await self._reset(client)
            return _failure(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return _failure(None, str(exc) or type(exc).__name__)
        finally:
            if reusable and client.is_connected:
                self._idle.append(client)
            else:
                client.close()

    async def _transaction(
        self,
        client: aiosmtplib.SMTP,
        sender: str,
        recipients: list[str],
        payload: bytes,
        size: int,
        dsn: DsnRequest | None,
    ) -> SendOutcome:
        """MAIL, RCPT and DATA, then the content as `data_payload` prepared it.

        The addresses are checked already (`normalize_address`: no controls, spaces or angle
        brackets), so the commands are written as they are rather than parsed again. A relay that
        offers PIPELINING gets the commands in one write; otherwise they go one at a time through
        aiosmtplib's `execute_command`. DSN parameters go only to a relay that offers DSN: any
        other would refuse a parameter it does not know (555, RFC 5321 §4.1.1.11).
        """
        utf8 = not (sender.isascii() and all(recipient.isascii() for recipient in recipients))
        options = b""
        if utf8:
            if not client.supports_extension("smtputf8"):
                return SendOutcome(DeliveryStatus.PERMANENT, None, "the relay does not accept non-ASCII addresses")
            options += b" SMTPUTF8"
        if client.supports_extension("size"):
            options += b" SIZE=%d" % size
        asked = dsn if dsn is not None and client.supports_extension("dsn") else None
        if asked is not None:
            options += asked.mail_parameters
        encoding = "utf-8" if utf8 else "ascii"
        commands = [
            b"MAIL FROM:<" + sender.encode(encoding) + b">" + options,
            *(
                b"RCPT TO:<"
                + recipient.encode(encoding)
                + b">"
                + (asked.rcpt_parameters(recipient) if asked is not None else b"")
                for recipient in recipients
            ),
            b"DATA",
        ]
        pipeline = _pipeline_of(client)
        if pipeline is None:
            return await self._one_by_one(client, commands, sender, recipients, payload)
        try:
            replies = await pipeline.exchange(b"\r\n".join(commands) + b"\r\n", len(commands))
        except aiosmtplib.SMTPServerDisconnected as exc:  # nothing was sent: dropped while idle
            raise _StaleConnection(_failure(None, str(exc) or "connection lost")) from exc
        if any(reply.code == _CLOSING for reply in replies.received):
            client.close()  # as `execute_command` does: the relay is going away
        content_awaited = len(replies.received) == len(commands) and replies.received[-1].code == _START_INPUT
        sending = False
        try:
            try:
                mail = replies.next()
            except aiosmtplib.SMTPServerDisconnected as exc:  # not even MAIL was answered
                raise _StaleConnection(_failure(None, str(exc) or "connection lost")) from exc
            _check_mail(mail, sender)
            refused = _refusals(recipients, [replies.next() for _ in recipients])
            reply = replies.next()
            if reply.code != _START_INPUT:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
            sending = True
        finally:
            if content_awaited and not sending:
                # The relay waits for the content of a message that must not go: only closing the
                # connection ends that safely (a lone "." could deliver an empty message).
                client.close()
        reply = (await pipeline.exchange(payload, 1)).next()
        if reply.code != _COMPLETED:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return SendOutcome(DeliveryStatus.SENT, reply.code, reply.message, refused)

    async def _one_by_one(
        self, client: aiosmtplib.SMTP, commands: list[bytes], sender: str, recipients: list[str], payload: bytes
    ) -> SendOutcome:
        """The transaction without pipelining: each command waits for the reply to the one before."""
        mail_command, *rcpt_commands, data_command = commands
        try:
            mail = await client.execute_command(mail_command)
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise _StaleConnection(_failure(None, str(exc) or "connection lost")) from exc
        _check_mail(mail, sender)
        refused = _refusals(recipients, [await client.execute_command(command) for command in rcpt_commands])
        reply = await client.execute_command(data_command)
        if reply.code != _START_INPUT:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        reply = await self._write_content(client, payload)
        if reply.code != _COMPLETED:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return SendOutcome(DeliveryStatus.SENT, reply.code, reply.message, refused)

    async def _write_content(self, client: aiosmtplib.SMTP, payload: bytes) -> aiosmtplib.SMTPResponse:
        """The content after a 354 reply, and the reply to it; `data()` without its rework of the bytes.

        The connection is this transaction's alone (the pool lends it to one send at a time), so
        nothing else writes or reads between the write and the read that follows it at once.
        """
        protocol = client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        try:
            protocol.write(payload)
            return await protocol.read_response(timeout=self.timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            client.close()  # as `data()` does: a timed out reply would pair with the next command
            raise

    @staticmethod
    async def _reset(client: aiosmtplib.SMTP) -> bool:
        """RSET after a refused transaction; False when the connection is no longer fit for reuse."""
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return False
        return True
