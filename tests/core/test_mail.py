"""Mail through real SMTP servers (aiosmtpd, started by the tests): SMTP_URL, sending, AUTH, failures, the console."""

import json
import logging

import aiosmtplib
import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.deps import MailerDep
from app.core.mail import (
    SMTP_PORT,
    SMTPS_PORT,
    ConsoleMailer,
    Mailer,
    SmtpMailer,
    SmtpServer,
    build_message,
    deliver,
    mailer_from_settings,
    parse_smtp_url,
)
from app.core.observability import JsonFormatter
from app.main import create_app
from tests.conftest import SmtpTestServer, StartSmtpServer
from tests.servers import free_port

SECRET = "test-secret-key-that-is-long-enough-for-hs256"
RECIPIENT = "private.person@example.com"
CODE = "424242"


def make_settings(environment: str = "test", **overrides: object) -> Settings:
    return Settings(environment=environment, secret_key=SECRET, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected", "start_tls"),
    [
        ("smtp://mail.example.com", SmtpServer("mail.example.com", SMTP_PORT, implicit_tls=False), None),
        ("smtp://mail.example.com:2525/", SmtpServer("mail.example.com", 2525, implicit_tls=False), None),
        ("smtps://mail.example.com", SmtpServer("mail.example.com", SMTPS_PORT, implicit_tls=True), False),
        ("smtp://[::1]:25", SmtpServer("::1", 25, implicit_tls=False), None),
        # A password to another machine insists on STARTTLS; to this one it may go in the clear.
        (
            "smtp://us%40er:p%3Ass%2Fw%25rd@mail.example.com",
            SmtpServer("mail.example.com", SMTP_PORT, implicit_tls=False, username="us@er", password="p:ss/w%rd"),
            True,
        ),
        (
            "smtp://user:secret@127.0.0.1:2525",
            SmtpServer("127.0.0.1", 2525, implicit_tls=False, username="user", password="secret"),
            None,
        ),
        (
            "smtps://user:secret@mail.example.com",
            SmtpServer("mail.example.com", SMTPS_PORT, implicit_tls=True, username="user", password="secret"),
            False,
        ),
    ],
)
def test_good_smtp_urls(url: str, expected: SmtpServer, start_tls: bool | None) -> None:
    settings = make_settings(smtp_url=url)
    assert settings.smtp_url is not None
    server = parse_smtp_url(settings.smtp_url.get_secret_value())
    assert server == expected
    assert server.start_tls is start_tls
    assert server.password is None or server.password not in repr(server)


def test_an_empty_smtp_url_is_no_smtp_url() -> None:
    assert make_settings(smtp_url="").smtp_url is None


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@mail.example.com",
        "user:hunter2@mail.example.com:25",
        "smtp://user:hunter2@",
        "smtp://user:hunter2@:25",
        "smtp://user:hunter2@mail.example.com:99999",
        "smtp://user:hunter2@mail.example.com:port",
        "smtp://user:hunter2@mail.example.com:0",
        "smtp://user:hunter2@mail.example.com/relay",
        "smtp://user:hunter2@mail.example.com?tls=off",
        "smtp://:hunter2@mail.example.com",
        "smtp://user:hunter2@[mail.example.com",
    ],
)
def test_a_malformed_smtp_url_is_refused_at_load_without_echoing_it(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(smtp_url=url)
    assert "SMTP_URL" in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("mail_from", ["no-reply", "", "no-reply@", "a@example.com\r\nBcc: b@example.com"])
def test_a_malformed_mail_from_is_refused(mail_from: str) -> None:
    with pytest.raises(ValidationError, match="MAIL_FROM"):
        make_settings(mail_from=mail_from)


async def test_a_message_arrives_with_its_sender_subject_and_body(smtp_server: SmtpTestServer) -> None:
    settings = make_settings(smtp_url=smtp_server.url, mail_from="Rejection Tracker <no-reply@rt.example>")
    mailer = mailer_from_settings(settings)
    assert isinstance(mailer, SmtpMailer)
    text = f"Your code is {CODE}. Ça marche — even with a line that runs on {'and on ' * 12}past 78 characters.\n"
    await mailer.send(build_message(settings, to=RECIPIENT, subject="Your password-reset code", text=text))

    received = await smtp_server.wait_for(RECIPIENT.upper())
    assert received["From"] == "Rejection Tracker <no-reply@rt.example>"
    assert received["To"] == RECIPIENT
    assert received["Subject"] == "Your password-reset code"
    assert received.get_content() == text
    assert received["Message-ID"].endswith("@rt.example>")
    assert received["Date"].datetime is not None
    assert received["Auto-Submitted"] == "auto-generated"
    assert smtp_server.messages == [received]


async def test_user_and_password_from_the_url_log_in(start_smtp_server: StartSmtpServer) -> None:
    server = start_smtp_server(user="us@er", password="p@ss:w/rd%")
    assert server.url == f"smtp://us%40er:p%40ss%3Aw%2Frd%25@127.0.0.1:{server.port}"
    settings = make_settings(smtp_url=server.url)
    message = build_message(settings, to=RECIPIENT, subject="Hello", text="Logged in.")

    await SmtpMailer(server.url).send(message)

    assert (await server.wait_for(RECIPIENT)).get_content() == "Logged in.\n"


async def test_a_wrong_or_missing_password_is_refused(start_smtp_server: StartSmtpServer) -> None:
    server = start_smtp_server(user="user", password="right")
    message = build_message(make_settings(), to=RECIPIENT, subject="Hello", text="Refused.")
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await SmtpMailer(f"smtp://user:wrong@127.0.0.1:{server.port}").send(message)
    with pytest.raises(aiosmtplib.SMTPSenderRefused):
        await SmtpMailer(f"smtp://127.0.0.1:{server.port}").send(message)
    assert server.messages == []


def _failures(error: str) -> float:
    return REGISTRY.get_sample_value("mail_send_failures_total", {"error": error}) or 0.0


async def test_deliver_logs_a_failure_by_its_type_and_server_only(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}", timeout=2)
    subject = "Your password-reset code"
    message = build_message(make_settings(), to=RECIPIENT, subject=subject, text=f"Your code is {CODE}.")
    before = _failures("SMTPConnectError")
    caplog.set_level(logging.DEBUG)

    await deliver(mailer, message)

    [record] = [r for r in caplog.records if r.name == "app.mail"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    formatted = JsonFormatter().format(record)
    assert json.loads(formatted)["mail_server"] == f"127.0.0.1:{port}"
    assert "SMTPConnectError" in record.getMessage()
    for secret in (RECIPIENT, "private.person", CODE, subject):
        assert secret not in caplog.text
        assert secret not in formatted
    assert _failures("SMTPConnectError") == before + 1


async def test_deliver_sends_when_the_server_answers(smtp_server: SmtpTestServer) -> None:
    settings = make_settings(smtp_url=smtp_server.url)
    await deliver(SmtpMailer(smtp_server.url), build_message(settings, to=RECIPIENT, subject="Hi", text="Hello."))
    assert (await smtp_server.wait_for(RECIPIENT))["Subject"] == "Hi"


async def test_the_console_mailer_prints_the_decoded_message_and_logs_nothing(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    text = f"Your code is {CODE}. Ça marche, with a line long enough {'to be wrapped ' * 8}when encoded."
    message = build_message(make_settings("development"), to=RECIPIENT, subject="Your password-reset code", text=text)

    await ConsoleMailer().send(message)

    printed = capsys.readouterr().out
    assert "development mail, NOT SENT" in printed
    assert f"To: {RECIPIENT}" in printed
    assert "Subject: Your password-reset code" in printed
    assert text in printed
    assert not [r for r in caplog.records if RECIPIENT in r.getMessage() or CODE in r.getMessage()]
    assert not [r for r in caplog.records if r.name.startswith("app")]


@pytest.mark.parametrize(
    ("environment", "with_url", "expected"),
    [
        ("development", False, ConsoleMailer),
        ("development", True, SmtpMailer),
        ("test", False, None),
        ("test", True, SmtpMailer),
        ("production", False, None),
        ("production", True, SmtpMailer),
    ],
)
def test_mailer_from_settings_in_each_environment(
    environment: str, with_url: bool, expected: type[Mailer] | None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(environment, smtp_url="smtp://mail.example.com" if with_url else None)
    mailer = mailer_from_settings(settings)
    assert (type(mailer) if mailer is not None else None) is expected
    warned = [r for r in caplog.records if r.name == "app.mail" and r.levelno == logging.WARNING]
    if environment == "production" and not with_url:
        assert ["password reset is off" in r.getMessage() for r in warned] == [True]
    else:
        assert warned == []


async def test_the_app_hands_its_mailer_to_routes(
    smtp_server: SmtpTestServer, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(make_settings(smtp_url=SecretStr(smtp_server.url)), sessionmaker=sessionmaker)
    assert isinstance(app.state.mailer, SmtpMailer)

    @app.get("/mailer")
    async def which(mailer: MailerDep) -> dict[str, str | None]:
        return {"destination": mailer.destination if mailer else None}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await client.get("/mailer")
    assert answer.json() == {"destination": f"127.0.0.1:{smtp_server.port}"}
