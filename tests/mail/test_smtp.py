"""SMTP transport against a real aiosmtpd sink: pooling, classification (Mailman rule), outages.

The sink offers PIPELINING or not (the `sink` fixture runs each test both ways): with it the
transport writes MAIL, RCPT and DATA at once and reads the replies aiosmtpd sends one by one.
aiosmtpd upper-cases the MAIL and RCPT parameters it hands over, hence the capitals below.
"""

from __future__ import annotations

import asyncio
import email.policy
import random
from collections.abc import AsyncIterator
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from roost.config import Settings
from roost.mail import DeliveryStatus, DkimKeyring, DsnRequest, SmtpConfig, SmtpTransport, classify, write_key, xtext
from roost.mail.smtp import data_payload
from tests.mail.sink import Sink
from tests.mail.test_compose import compiled, recipient
from tests.mail.test_dkim import KEY, verifies


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
async def sink(request: pytest.FixtureRequest) -> AsyncIterator[Sink]:
    """A real SMTP server, offering PIPELINING or not."""
    server = Sink(pipelining=request.param)
    await server.start()
    yield server
    if server.running:
        await server.stop()


MESSAGE = b"From: a@shop.example\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello\r\n.starts with a dot\r\n"


def transport_for(sink: Sink, **options: float) -> SmtpTransport:
    concurrency = int(options.pop("concurrency", 2))
    return SmtpTransport(
        SmtpConfig.from_url(sink.url), concurrency=concurrency, local_hostname="client.test", **options
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.example", SmtpConfig("relay.example", 25)),
        ("smtp://relay.example:2525", SmtpConfig("relay.example", 2525)),
        ("smtps://relay.example", SmtpConfig("relay.example", 465, implicit_tls=True)),
        ("smtp://relay.example?starttls=1", SmtpConfig("relay.example", 587, starttls=True)),
        ("smtp://relay.example:25?starttls=true", SmtpConfig("relay.example", 25, starttls=True)),
        ("smtp://relay.example?starttls=0", SmtpConfig("relay.example", 25)),
        (
            "smtps://apikey:p%40ss%3Aword@relay.example:4650",
            SmtpConfig("relay.example", 4650, "apikey", "p@ss:word", implicit_tls=True),
        ),
        ("smtp://user@relay.example", SmtpConfig("relay.example", 25, "user")),
    ],
)
def test_smtp_urls(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://relay.example",
        "smtp://",
        "smtp://relay.example:99999",
        "smtp://relay.example?starttls=maybe",
        "smtp://relay.example?tls=1",
        "smtps://relay.example?starttls=1",
        "relay.example:25",
    ],
)
def test_bad_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"SMTP URL|starttls"):
        SmtpConfig.from_url(url)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (550, DeliveryStatus.PERMANENT),
        (553, DeliveryStatus.PERMANENT),
        (554, DeliveryStatus.PERMANENT),
        (552, DeliveryStatus.TRANSIENT),
        (421, DeliveryStatus.TRANSIENT),
        (451, DeliveryStatus.TRANSIENT),
        (452, DeliveryStatus.TRANSIENT),
        (None, DeliveryStatus.TRANSIENT),
    ],
)
def test_failures_are_classified_by_the_mailman_rule(code: int | None, status: DeliveryStatus) -> None:
    assert classify(code) is status


@pytest.mark.parametrize(
    ("message", "payload"),
    [
        (b"", b"\r\n.\r\n"),
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
        (b"no final line end", b"no final line end\r\n.\r\n"),
        (b"ends with a lone CR\r", b"ends with a lone CR\r\n.\r\n"),
        (b"bare\nLF\n", b"bare\r\nLF\r\n.\r\n"),
        (b"bare\rCR\r\n", b"bare\r\nCR\r\n.\r\n"),
        (b"CR CR LF\r\r\n", b"CR CR LF\r\n\r\n.\r\n"),
        (b"LF CR\n\rx", b"LF CR\r\n\r\nx\r\n.\r\n"),
        (b".first line", b"..first line\r\n.\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),  # a lone dot would end the data early
        (b"a\r\n..b\r\n", b"a\r\n...b\r\n.\r\n"),
        (b"a\n.b\r.c", b"a\r\n..b\r\n..c\r\n.\r\n"),  # dots after bare line ends too
        (b"in the middle. of a line\r\n", b"in the middle. of a line\r\n.\r\n"),
    ],
)
def test_the_data_payload_has_crlf_line_ends_and_stuffed_dots(message: bytes, payload: bytes) -> None:
    assert data_payload(message) == payload


def test_the_data_payload_is_what_aiosmtplib_would_send() -> None:
    pieces = [b"\r\n", b"\n", b"\r", b".", b"..", b"x", b" ", b"\r\r", b"\n\n", b"=\r\n", b"\xc3\xa9"]
    rng = random.Random(5321)  # noqa: S311 - seeded for reproducible inputs, not secrecy
    for _ in range(3000):
        message = b"".join(rng.choice(pieces) for _ in range(rng.randrange(12)))
        expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
        assert data_payload(message) == expected, message


def test_the_transport_is_configured_from_settings() -> None:
    settings = Settings(smtp_url="smtp://relay.example:2525?starttls=1", smtp_concurrency=3, smtp_timeout=5)
    transport = SmtpTransport.from_settings(settings)
    assert transport.config == SmtpConfig("relay.example", 2525, starttls=True)
    assert transport.timeout == 5
    with pytest.raises(ValueError, match="ROOST_SMTP_URL"):
        SmtpTransport.from_settings(Settings(smtp_url=None))


async def test_many_messages_travel_over_few_reused_connections(sink: Sink) -> None:
    transport = transport_for(sink, concurrency=3)
    outcomes = await asyncio.gather(
        *(transport.send("bounces+t@shop.example", [f"r{i}@example.com"], MESSAGE) for i in range(60))
    )
    await transport.close()
    assert {outcome.status for outcome in outcomes} == {DeliveryStatus.SENT}
    assert {(outcome.code, outcome.message) for outcome in outcomes} == {(250, "2.0.0 queued")}
    assert len(sink.received) == 60
    assert sink.connections <= 3
    assert transport.connections_opened == sink.connections
    assert sink.received[0].data == MESSAGE  # dot-stuffing undone by the server: bytes arrive intact


async def test_content_with_bare_line_ends_and_leading_dots_arrives_as_crlf_lines(sink: Sink) -> None:
    transport = transport_for(sink)
    message = b"Subject: dots\n\n.\n..two\r.three\r\nlast line without an end"
    outcome = await transport.send("bounces+t@shop.example", ["r@example.com"], message)
    await transport.close()
    assert outcome.status is DeliveryStatus.SENT
    [received] = sink.received
    assert received.data == b"Subject: dots\r\n\r\n.\r\n..two\r\n.three\r\nlast line without an end\r\n"


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        ("451 4.3.0 Try again later", DeliveryStatus.TRANSIENT, 451),
        ("550 5.1.1 No such user", DeliveryStatus.PERMANENT, 550),
        ("552 5.2.2 Mailbox full", DeliveryStatus.TRANSIENT, 552),
    ],
)
async def test_a_refused_recipient_is_classified_with_the_servers_reply(
    sink: Sink, reply: str, status: DeliveryStatus, code: int
) -> None:
    sink.recipient_replies["chosen@example.com"] = reply
    transport = transport_for(sink)
    outcome = await transport.send("bounces+t@shop.example", ["chosen@example.com"], MESSAGE)
    assert (outcome.status, outcome.code, outcome.message) == (status, code, reply.split(" ", 1)[1])
    assert outcome.refused["chosen@example.com"].code == code
    # The connection survives the refusal and carries the next message.
    assert (await transport.send("bounces+t@shop.example", ["ok@example.com"], MESSAGE)).status is DeliveryStatus.SENT
    await transport.close()
    assert sink.connections == 1
    assert [item.recipients for item in sink.received] == [["ok@example.com"]]


async def test_with_several_recipients_the_refused_ones_are_listed(sink: Sink) -> None:
    sink.recipient_replies.update({"gone@example.com": "550 gone", "busy@example.com": "451 busy"})
    transport = transport_for(sink)
    outcome = await transport.send(
        "bounces+t@shop.example", ["gone@example.com", "ok@example.com", "busy@example.com"], MESSAGE
    )
    await transport.close()
    assert outcome.status is DeliveryStatus.SENT
    assert {address: result.status for address, result in outcome.refused.items()} == {
        "gone@example.com": DeliveryStatus.PERMANENT,
        "busy@example.com": DeliveryStatus.TRANSIENT,
    }
    assert sink.received[0].recipients == ["ok@example.com"]


@pytest.mark.parametrize(
    ("reply", "status"), [("554 5.7.1 Rejected as spam", DeliveryStatus.PERMANENT), ("452 4.3.1 Full", "transient")]
)
async def test_a_refused_message_is_classified_too(sink: Sink, reply: str, status: DeliveryStatus) -> None:
    sink.data_reply = reply
    transport = transport_for(sink)
    outcome = await transport.send("bounces+t@shop.example", ["ok@example.com"], MESSAGE)
    await transport.close()
    assert (outcome.status, outcome.code) == (status, int(reply[:3]))


async def test_the_relay_going_down_is_unreachable_and_sending_resumes_when_it_is_back(sink: Sink) -> None:
    transport = transport_for(sink)
    assert (await transport.send("bounces+t@shop.example", ["a@example.com"], MESSAGE)).status is DeliveryStatus.SENT
    await sink.stop()  # drops the pooled connection too
    down = await transport.send("bounces+t@shop.example", ["b@example.com"], MESSAGE)
    assert (down.status, down.code) == (DeliveryStatus.UNREACHABLE, None)
    assert "connect" in down.message.lower()
    await sink.start()  # same port
    back = await transport.send("bounces+t@shop.example", ["c@example.com"], MESSAGE)
    await transport.close()
    assert back.status is DeliveryStatus.SENT
    assert [item.recipients for item in sink.received] == [["a@example.com"], ["c@example.com"]]


async def test_a_connection_dropped_while_idle_is_replaced_without_failing_the_message(sink: Sink) -> None:
    transport = transport_for(sink)
    await transport.send("bounces+t@shop.example", ["a@example.com"], MESSAGE)
    await sink.stop()
    await sink.start()
    outcome = await transport.send("bounces+t@shop.example", ["b@example.com"], MESSAGE)
    await transport.close()
    assert outcome.status is DeliveryStatus.SENT
    assert transport.connections_opened == 2


async def test_a_relay_that_does_not_answer_in_time_is_transient(sink: Sink) -> None:
    sink.data_delay = 2.0
    transport = transport_for(sink, timeout=0.3)
    outcome = await transport.send("bounces+t@shop.example", ["a@example.com"], MESSAGE)
    await transport.close()
    assert (outcome.status, outcome.code) == (DeliveryStatus.TRANSIENT, None)


async def test_replies_that_come_apart_are_each_paired_with_their_command(sink: Sink) -> None:
    sink.rcpt_delay = 0.01  # each RCPT reply leaves the sink well after the one before it
    sink.recipient_replies.update({"gone@example.com": "550 5.1.1 gone", "busy@example.com": "451 4.2.0 busy"})
    transport = transport_for(sink, concurrency=3)
    recipients = [["gone@example.com", f"r{i}@example.com", "busy@example.com"] for i in range(30)]
    outcomes = await asyncio.gather(*(transport.send("bounces+t@shop.example", rcpts, MESSAGE) for rcpts in recipients))
    refused = await transport.send("bounces+t@shop.example", ["gone@example.com", "busy@example.com"], MESSAGE)
    await transport.close()
    assert {(outcome.status, outcome.code) for outcome in outcomes} == {(DeliveryStatus.SENT, 250)}
    assert {tuple(sorted(outcome.refused)) for outcome in outcomes} == {("busy@example.com", "gone@example.com")}
    assert (refused.status, refused.code) == (DeliveryStatus.TRANSIENT, 451)
    assert sorted(item.recipients[0] for item in sink.received) == sorted(f"r{i}@example.com" for i in range(30))
    assert sink.connections <= 3


async def test_a_relay_that_does_not_answer_the_envelope_in_time_is_transient(sink: Sink) -> None:
    sink.rcpt_delay = 2.0
    transport = transport_for(sink, timeout=0.3)
    outcome = await transport.send("bounces+t@shop.example", ["a@example.com"], MESSAGE)
    assert (outcome.status, outcome.code) == (DeliveryStatus.TRANSIENT, None)
    sink.rcpt_delay = 0.0
    # The late replies must not be taken for the next message's: that one goes on a new connection.
    assert (await transport.send("bounces+t@shop.example", ["b@example.com"], MESSAGE)).status is DeliveryStatus.SENT
    await transport.close()
    assert transport.connections_opened == 2
    assert [item.recipients for item in sink.received] == [["b@example.com"]]


async def test_a_relay_lost_between_replies_leaves_the_message_transient(sink: Sink) -> None:
    sink.rcpt_delay = 0.5
    transport = transport_for(sink)
    sending = asyncio.create_task(transport.send("bounces+t@shop.example", ["a@example.com"], MESSAGE))
    await asyncio.sleep(0.2)  # MAIL is answered, RCPT not yet
    await sink.stop()
    outcome = await sending
    await transport.close()
    assert (outcome.status, outcome.code) == (DeliveryStatus.TRANSIENT, None)
    assert transport.connections_opened == 1  # not taken for a connection dropped while idle
    assert sink.received == []


async def test_credentials_from_the_url_log_in_and_bad_ones_leave_the_relay_unreachable() -> None:
    sink = Sink(credentials=("roost", "s3cret:@"))
    await sink.start()
    try:
        good = SmtpTransport(
            SmtpConfig.from_url(f"smtp://roost:s3cret%3A%40@127.0.0.1:{sink.port}"), local_hostname="client.test"
        )
        assert (await good.send("bounces+t@shop.example", ["a@example.com"], MESSAGE)).status is DeliveryStatus.SENT
        await good.close()
        bad = SmtpTransport(
            SmtpConfig.from_url(f"smtp://roost:wrong@127.0.0.1:{sink.port}"), local_hostname="client.test"
        )
        outcome = await bad.send("bounces+t@shop.example", ["a@example.com"], MESSAGE)
        await bad.close()
        # A login failure is the relay's configuration, not the recipient's fault: wait for the relay.
        assert (outcome.status, outcome.code) == (DeliveryStatus.UNREACHABLE, 535)
    finally:
        await sink.stop()
    assert len(sink.received) == 1


async def test_non_ascii_addresses_use_smtputf8(sink: Sink) -> None:
    transport = transport_for(sink)
    outcome = await transport.send("bounces+t@shop.example", ["jürgen@bücher.example"], MESSAGE)
    await transport.close()
    assert outcome.status is DeliveryStatus.SENT
    assert sink.received[0].recipients == ["jürgen@xn--bcher-kva.example"]


async def test_non_ascii_addresses_are_permanent_on_a_relay_without_smtputf8(sink: Sink) -> None:
    sink.smtputf8 = False
    transport = transport_for(sink)
    outcome = await transport.send("bounces+t@shop.example", ["jürgen@example.com"], MESSAGE)
    assert (outcome.status, outcome.code) == (DeliveryStatus.PERMANENT, None)
    # The connection was not spoiled for the next message.
    assert (await transport.send("bounces+t@shop.example", ["j@example.com"], MESSAGE)).status is DeliveryStatus.SENT
    await transport.close()
    assert sink.connections == 1


async def test_malformed_addresses_are_permanent_without_a_connection(sink: Sink) -> None:
    transport = transport_for(sink)
    outcome = await transport.send("bounces+t@shop.example", ["no address"], MESSAGE)
    assert outcome.status is DeliveryStatus.PERMANENT
    assert sink.connections == 0


async def test_a_rendered_signed_message_arrives_intact_and_verifies(sink: Sink, tmp_path: Path) -> None:
    write_key(tmp_path, KEY)
    message = compiled(dkim=DkimKeyring(tmp_path)).render(recipient())
    transport = transport_for(sink)
    outcome = await transport.send(message.envelope_from, ["ada@example.com"], message.data)
    await transport.close()
    assert outcome.status is DeliveryStatus.SENT
    [received] = sink.received
    assert received.envelope_from == "bounces+m42.k3y@bounce.roost.example"
    assert received.data == message.data
    assert verifies(received.data)
    assert message_from_bytes(received.data, policy=email.policy.default)["Subject"] == "Hi Ada, deals!"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("42.0123abcdef", "42.0123abcdef"),
        ("ann+news@example.com", "ann+2Bnews@example.com"),  # "+" starts an escape
        ("a=b@example.com", "a+3Db@example.com"),
        ("two words\t", "two+20words+09"),
        ("é", "+C3+A9"),
    ],
)
def test_xtext_escapes_plus_equals_and_anything_outside_printable_ascii(value: str, encoded: str) -> None:
    assert xtext(value) == encoded


@pytest.mark.parametrize("envelope_id", ["", "x" * 101, "+" * 34])
def test_an_envelope_id_has_at_most_100_characters_of_xtext(envelope_id: str) -> None:
    with pytest.raises(ValueError, match="envelope id"):
        DsnRequest(envelope_id)


async def test_a_relay_that_offers_dsn_is_asked_for_success_failure_and_delay_reports(sink: Sink) -> None:
    sink.dsn = True
    transport = transport_for(sink)
    outcome = await transport.send(
        "bounces+t@shop.example", ["ann+news@example.com", "bob@example.com"], MESSAGE, dsn=DsnRequest("42.abc")
    )
    await transport.close()
    assert outcome.status is DeliveryStatus.SENT
    [received] = sink.received
    assert received.mail_options[-2:] == ["RET=HDRS", "ENVID=42.ABC"]
    assert received.rcpt_options == [
        "NOTIFY=SUCCESS,FAILURE,DELAY",
        "ORCPT=RFC822;ANN+2BNEWS@EXAMPLE.COM",
        "NOTIFY=SUCCESS,FAILURE,DELAY",
        "ORCPT=RFC822;BOB@EXAMPLE.COM",
    ]


async def test_a_non_ascii_recipient_is_asked_for_reports_without_orcpt(sink: Sink) -> None:
    sink.dsn = True
    transport = transport_for(sink)
    outcome = await transport.send("bounces+t@shop.example", ["jürgen@example.com"], MESSAGE, dsn=DsnRequest("7.f"))
    await transport.close()
    assert outcome.status is DeliveryStatus.SENT
    assert sink.received[0].rcpt_options == ["NOTIFY=SUCCESS,FAILURE,DELAY"]


@pytest.mark.parametrize("offers_dsn", [False, True], ids=["relay-without-dsn", "not-asked"])
async def test_no_dsn_parameters_unless_asked_and_offered(sink: Sink, offers_dsn: bool) -> None:
    # A relay without DSN would refuse the parameters (aiosmtpd answers 555, as the sink does).
    sink.dsn = offers_dsn
    transport = transport_for(sink)
    dsn = None if offers_dsn else DsnRequest("42.abc")
    outcome = await transport.send("bounces+t@shop.example", ["ann@example.com"], MESSAGE, dsn=dsn)
    await transport.close()
    assert outcome.status is DeliveryStatus.SENT
    [received] = sink.received
    assert not [option for option in received.mail_options if option.startswith(("RET=", "ENVID="))]
    assert received.rcpt_options == []
