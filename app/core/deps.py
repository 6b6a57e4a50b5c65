"""Dependency aliases every domain uses: settings, the unit of work, the rate limiter, the mailer. They import
no domain; who the caller is lives in app/accounts/dependencies.py."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import unit_of_work
from app.core.mail import Mailer
from app.core.ratelimit import RateLimiter


# The dependencies are `async def` even where they need not be: FastAPI runs a plain `def`
# dependency in the thread pool, a hop that costs more than the call itself.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def get_mailer(request: Request) -> Mailer | None:
    mailer: Mailer | None = request.app.state.mailer
    return mailer


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
# scope="function": commit before the response is sent, so a failed commit is
# answered as an error instead of being acknowledged and lost.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
# None when mail is off (production without SMTP_URL): a route that must send answers 503.
MailerDep = Annotated[Mailer | None, Depends(get_mailer)]
