"""How fast roost.mail composes messages: compile one newsletter, render it for N recipients.

Prints messages per second and CPU per message, without DKIM and with an RSA-2048 DKIM
signature, in one process and in several at once, with open and click tracking (signed
links from roost.delivery.addressing), beside building each message with `email.message`
for reference. See bench/README.md.

    python bench/compose.py --messages 20000 --processes 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from functools import partial
from pathlib import Path
from typing import Any

from roost.delivery.addressing import Addressing
from roost.kit.signing import Signer
from roost.mail import CompiledEmail, DkimKeyring, Recipient, Sender, compile_email, generate_key, write_key
from roost.mail.compose import html_to_text

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "", "Zoë", "Jürgen", "Radia", "Linus")
CITIES = ("Paris", "London", "", "Köln", "Oslo", "Lisbon", "Kraków")
SENDER = Sender(
    name="The Roost Gazette",
    email="news@gazette.example",
    address="12 Harbour Road\nPortsmouth PO1 3AB\nUnited Kingdom",
    company="Gazette Media Ltd",
)
SUBJECT = "%contact.first_name|Friend%, this week's ten picks for %contact.city|you%"
ARTICLE = """
<tr><td class="article">
  <img src="https://cdn.gazette.example/img/{n}.jpg" width="560" alt="Picture {n}" class="hero">
  <h2>Story number {n}: what changed this week</h2>
  <p>Lorem ipsum dolor sit amet, consectetur adipiscing elit. Integer nec odio praesent libero, sed
  cursus ante dapibus diam. Sed nisi nulla quis sem at nibh elementum imperdiet, duis sagittis
  ipsum. Praesent mauris fusce nec tellus sed augue semper porta. Mauris massa vestibulum lacinia
  arcu eget nulla, class aptent taciti sociosqu ad litora torquent per conubia nostra.</p>
  <p><a class="button" href="https://gazette.example/story/{n}?utm_source=roost&e=%contact.email%">Read
  story {n}</a></p>
</td></tr>"""
HTML = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>The Gazette</title>
<style>
  body {{ margin: 0; background: #f4f4f5; font-family: Helvetica, Arial, sans-serif; }}
  .wrap {{ width: 600px; margin: 0 auto; background: #ffffff; }}
  h1 {{ font-size: 28px; color: #111827; }}
  h2 {{ font-size: 20px; color: #1f2937; margin: 16px 0 8px; }}
  p {{ font-size: 16px; line-height: 24px; color: #374151; }}
  .article {{ padding: 20px; border-bottom: 1px solid #e5e7eb; }}
  .button {{ display: inline-block; padding: 10px 18px; background: #2563eb; color: #ffffff;
             text-decoration: none; border-radius: 6px; }}
  .hero {{ display: block; max-width: 100%; height: auto; }}
  @media (max-width: 620px) {{ .wrap {{ width: 100% !important; }} }}
</style></head>
<body><table class="wrap" role="presentation">
<tr><td class="article"><h1>Hello %contact.first_name|there%!</h1>
<p>Here is what we picked for readers in %contact.city|your area% this week. You receive this
because %contact.email% subscribed to The Gazette.</p></td></tr>
{"".join(ARTICLE.format(n=n) for n in range(1, 11))}
</table></body></html>"""


@dataclass(frozen=True)
class Measurement:
    label: str
    messages: int
    wall: float
    cpu: float
    size: int

    def row(self) -> str:
        rate = self.messages / self.wall
        cpu_per_message = self.cpu / self.messages * 1e6
        return f"| {self.label} | {self.messages:,} | {rate:,.0f} | {cpu_per_message:,.0f} | {self.size:,} |"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


ADDRESSING = Addressing(
    base_url="https://roost.example",
    bounce_domain="bounce.roost.example",
    message=Signer("bench-secret", "message"),
    click=Signer("bench-secret", "click"),
    confirm=Signer("bench-secret", "confirm"),
    visitor=Signer("bench-secret", "visitor"),
)


def tracking(message_id: int) -> dict[str, Any]:
    """The Recipient fields that turn on open and click tracking for one message."""
    return {
        "open_url": ADDRESSING.open_url(message_id),
        "click_url": ADDRESSING.links(message_id).click_url,
    }


def recipients(count: int, offset: int = 0, *, tracked: bool = False) -> list[Recipient]:
    return [
        Recipient(
            email=f"reader{i}@example.com",
            name=f"{FIRST_NAMES[i % len(FIRST_NAMES)]} Reader".strip(),
            verp_token=f"m{i}.x7Kq2",
            unsubscribe_url=f"https://roost.example/u/m{i}.x7Kq2?sig=Zq81aP",
            message_id=f"m{i}.c3b1a9e2",
            fields={"first_name": FIRST_NAMES[i % len(FIRST_NAMES)], "city": CITIES[i % len(CITIES)]},
            **(tracking(i) if tracked else {}),
        )
        for i in range(offset, offset + count)
    ]


def compile_newsletter(key_directory: Path | None) -> CompiledEmail:
    return compile_email(
        subject=SUBJECT,
        html=HTML,
        sender=SENDER,
        message_id_domain="mail.roost.example",
        bounce_domain="bounce.roost.example",
        dkim=DkimKeyring(key_directory) if key_directory is not None else None,
    )


def render_all(
    key_directory: Path | None, count: int, offset: int = 0, tracked: bool = False
) -> tuple[float, float, int]:
    """Compile, then render `count` messages; the seconds (wall, CPU) of the rendering and the last size.

    Building a tracked recipient's values is left out of the timing, signing its links is not:
    `click_url` signs at render time.
    """
    email = compile_newsletter(key_directory)
    batch = recipients(count, offset, tracked=tracked)
    wall, cpu = time.perf_counter(), time.process_time()
    size = 0
    for recipient in batch:
        size = len(email.render(recipient).data)
    return time.perf_counter() - wall, time.process_time() - cpu, size


def in_processes(key_directory: Path | None, count: int, processes: int) -> tuple[float, float, int]:
    """Render `count` messages split over `processes` processes rendering at the same time.

    The wall time is the slowest process's rendering time, so compiling and process start-up
    stay out of it as in the single-process rows.
    """
    share = count // processes
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(render_all, [(key_directory, share, share * n) for n in range(processes)])
    return max(wall for wall, _, _ in results), sum(cpu for _, cpu, _ in results), results[0][2]


def email_message_baseline(count: int) -> tuple[float, float, int]:
    """The straightforward way, for reference: one EmailMessage per recipient, serialized.

    It gets the text part and the tags replaced for free, so it measures only the MIME building.
    """
    text = html_to_text(HTML)
    wall, cpu = time.perf_counter(), time.process_time()
    size = 0
    for recipient in recipients(count):
        message = EmailMessage()
        message["From"] = f"{SENDER.name} <{SENDER.email}>"
        message["To"] = f"{recipient.name} <{recipient.email}>"
        message["Subject"] = SUBJECT
        message["Message-ID"] = f"<{recipient.message_id}@mail.roost.example>"
        message["List-Unsubscribe"] = f"<{recipient.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(text)
        message.add_alternative(HTML, subtype="html")
        size = len(message.as_bytes(policy=SMTP))
    return time.perf_counter() - wall, time.process_time() - cpu, size


def timed(label: str, messages: int, run: Callable[[], tuple[float, float, int]]) -> Measurement:
    log(f"{label}…")
    wall, cpu, size = run()
    return Measurement(label, messages, wall, cpu, size)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="messages rendered per row")
    parser.add_argument("--processes", type=int, default=2, help="processes of the parallel rows (0: skip them)")
    parser.add_argument("--baseline", type=int, default=1_000, help="messages of the email.message row (0: skip)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        keys = Path(directory)
        write_key(keys, generate_key(SENDER.email.partition("@")[2], "bench"))
        start = time.perf_counter()
        compiled = compile_newsletter(keys)
        compile_ms = (time.perf_counter() - start) * 1000
        rows = [
            timed("render, no DKIM, 1 process", args.messages, lambda: render_all(None, args.messages)),
            timed("render + DKIM RSA-2048, 1 process", args.messages, lambda: render_all(keys, args.messages)),
            timed(
                "render + open/click tracking, no DKIM, 1 process",
                args.messages,
                lambda: render_all(None, args.messages, tracked=True),
            ),
            timed(
                "render + tracking + DKIM RSA-2048, 1 process",
                args.messages,
                lambda: render_all(keys, args.messages, tracked=True),
            ),
        ]
        if args.processes > 1:
            for key_directory, label in ((None, "render, no DKIM"), (keys, "render + DKIM RSA-2048")):
                run = partial(in_processes, key_directory, args.messages, args.processes)
                rows.append(timed(f"{label}, {args.processes} processes", args.messages, run))
        if args.baseline:
            rows.append(
                timed(
                    "email.message per recipient (reference)",
                    args.baseline,
                    lambda: email_message_baseline(args.baseline),
                )
            )
    signed = "signed" if compiled.dkim_key is not None else "unsigned"
    print(f"compile_email: {compile_ms:.1f} ms for {len(HTML):,} characters of HTML ({signed})")
    print("| row | messages | messages/s | CPU µs/message | bytes/message |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(row.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
