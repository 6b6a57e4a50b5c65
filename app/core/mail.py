"""Outgoing mail: an SMTP client configured by SMTP_URL, or the console in development.

A message holds an address and often a one-time code, so nothing here logs a recipient,
a subject or a body: `deliver` names only the error's type and the SMTP server.
"""

import ipaddress
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
from prometheus_client import Counter

from app.core.config import Settings

logger = logging.getLogger("app.mail")

# Message submission (RFC 6409), not relay: the service hands mail to a provider or a
# local MTA's submission port, and many networks block outbound port 25.
SMTP_PORT = 587
SMTPS_PORT = 465
# Per SMTP command, connecting included: a hung server costs a background task this long, never a request.
SMTP_TIMEOUT_SECONDS = 10.0

MAIL_FAILURES = Counter("mail_send_failures_total", "Messages the SMTP server did not accept", ["error"])


@dataclass(frozen=True)
class SmtpServer:
    """What SMTP_URL says: where to connect, how to encrypt, whom to log in as."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def start_tls(self) -> bool | None:
        """aiosmtplib's `start_tls`: None upgrades when the server offers STARTTLS, True insists."""
        if self.implicit_tls:
            return False
        # Someone on the path can strip the STARTTLS offer: a password only goes unencrypted to this machine.
        if self.username is not None and not _is_loopback(self.host):
            return True
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_smtp_url(url: str) -> SmtpServer:
    """`smtp://[user:password@]host[:port]` or `smtps://…`; errors never quote the URL, which may hold a password."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("SMTP_URL is not a valid URL: smtp://[user:password@]host[:port]") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("SMTP_URL must start with smtp:// (STARTTLS when offered) or smtps:// (TLS)")
    if not parts.hostname:
        raise ValueError("SMTP_URL names no host: smtp://[user:password@]host[:port]")
    if port == 0:
        raise ValueError("SMTP_URL has port 0")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("SMTP_URL takes no path, query or fragment: smtp://[user:password@]host[:port]")
    if parts.password is not None and not parts.username:
        raise ValueError("SMTP_URL has a password but no user: smtp://user:password@host[:port]")
    implicit_tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (SMTPS_PORT if implicit_tls else SMTP_PORT),
        implicit_tls=implicit_tls,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class Mailer(ABC):
    @abstractmethod
    async def send(self, message: EmailMessage) -> None:
        """Hand the message on; raises when that fails."""

    @property
    def destination(self) -> str:
        """Where messages go, fit for a log line: no recipient, no credential."""
        return type(self).__name__


class SmtpMailer(Mailer):
    """One connection per message: mail is rare (password resets), so a kept connection would mostly idle."""

    def __init__(self, url: str, *, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
        self._server = parse_smtp_url(url)
        self._timeout = timeout

    @property
    def destination(self) -> str:
        return f"{self._server.host}:{self._server.port}"

    async def send(self, message: EmailMessage) -> None:
        server = self._server
        await aiosmtplib.send(
            message,
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=server.start_tls,
            timeout=self._timeout,
        )


class ConsoleMailer(Mailer):
    """Development without SMTP_URL: the message on stdout, so `make run` shows the code to type in.

    Printed, not logged: log lines are collected and kept, and must never hold an address or a code.
    """

    @property
    def destination(self) -> str:
        return "console"

    async def send(self, message: EmailMessage) -> None:
        headers = "".join(f"{name}: {value}\n" for name, value in message.items())
        # Decoded: set_content may have stored the text as quoted-printable or base64.
        body = message.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        print(
            "----- development mail, NOT SENT (SMTP_URL is not set) -----\n"
            f"{headers}\n{text.rstrip()}\n"
            "----- end of development mail -----",
            flush=True,
        )


def mailer_from_settings(settings: Settings) -> Mailer | None:
    """SMTP when SMTP_URL is set, the console in development, otherwise None: mail is off."""
    if settings.smtp_url is not None:
        return SmtpMailer(settings.smtp_url.get_secret_value())
    if settings.environment == "development":
        return ConsoleMailer()
    if settings.environment == "production":
        logger.warning("SMTP_URL is not set: password reset is off (its endpoint answers 503)")
    return None


def build_message(settings: Settings, *, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    # The sender's domain: without one, make_msgid asks DNS for this host's name, blocking the event loop.
    message["Message-ID"] = make_msgid(domain=parseaddr(settings.mail_from)[1].rpartition("@")[2])
    # Vacation responders and the like do not answer it (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


async def deliver(mailer: Mailer, message: EmailMessage) -> None:
    """Send, and on failure log and count it instead of raising: the caller has answered already."""
    try:
        await mailer.send(message)
    except Exception as exc:
        # The type only: SMTP errors quote the server's reply, which often repeats the recipient.
        error = type(exc).__name__
        MAIL_FAILURES.labels(error).inc()
        logger.warning(
            "mail not sent via %s: %s",
            mailer.destination,
            error,
            extra={"mail_server": mailer.destination, "error": error},
        )
