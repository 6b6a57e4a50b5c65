"""Scopes: personal tokens take `read`, `write`, `admin`; without `write` every change is 403, admin routes need
`admin` on an admin's token; a sign-in carries every scope the account has."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.config import Settings
from app.core.models import UTCDateTime
from app.main import create_app
from tests.accounts.test_accounts import assert_problem
from tests.conftest import Account, MakeChallenge

TOKENS = "/api/v1/me/tokens"
ME = "/api/v1/me"
ADMIN_CHALLENGES = "/api/v1/admin/challenges"


async def make_token(client: httpx.AsyncClient, owner: Account, scopes: list[str] | None = None) -> dict[str, str]:
    body: dict[str, object] = {"name": "script"} | ({"scopes": scopes} if scopes is not None else {})
    created = await client.post(TOKENS, json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['token']}"}


async def test_a_token_reads_and_writes_by_default_and_says_so(client: httpx.AsyncClient, alice: Account) -> None:
    created = await client.post(TOKENS, json={"name": "script"}, headers=alice.headers)
    assert created.json()["scopes"] == ["read", "write"]
    listed = await client.get(TOKENS, headers=alice.headers)
    assert listed.json()["items"][0]["scopes"] == ["read", "write"]
    script = {"Authorization": f"Bearer {created.json()['token']}"}
    assert (await client.patch(ME, json={"display_name": "Al"}, headers=script)).status_code == 200


async def test_a_read_only_token_reads_and_is_403_on_every_kind_of_change(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    reader = await make_token(client, alice, ["read"])
    assert (await client.get(ME, headers=reader)).status_code == 200
    assert (await client.get("/api/v1/attempts", headers=reader)).status_code == 200
    attempt = {"challenge_id": str(challenge.id), "outcome": "avoided", "distress_before": 40}
    for method, path, body in [
        # TokenUserId: the route that reads no account.
        ("POST", "/api/v1/attempts", attempt),
        ("PATCH", ME, {"display_name": "Al"}),
        ("POST", TOKENS, {"name": "more"}),
        ("DELETE", ME, None),
        ("POST", "/api/v1/me/password", {"current_password": "x", "new_password": "y" * 10}),
    ]:
        response = await client.request(method, path, json=body, headers=reader)
        problem = assert_problem(response, 403)
        assert "write" in str(problem["detail"]), (method, path)
    assert (await client.get(ME, headers=alice.headers)).json()["display_name"] is None
    assert (await client.get("/api/v1/attempts", headers=alice.headers)).json()["items"] == []


async def test_a_write_only_token_logs_but_cannot_read(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    logger = await make_token(client, alice, ["write"])
    body = {"challenge_id": str(challenge.id), "outcome": "avoided", "distress_before": 40}
    assert (await client.post("/api/v1/attempts", json=body, headers=logger)).status_code == 201
    assert_problem(await client.get("/api/v1/attempts", headers=logger), 403)


async def test_admin_routes_need_the_admin_scope_on_an_admins_token(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, alice: Account
) -> None:
    assert (await client.get(ADMIN_CHALLENGES, headers=admin.headers)).status_code == 200
    curator = await make_token(client, admin, ["read", "write", "admin"])
    assert (await client.get(ADMIN_CHALLENGES, headers=curator)).status_code == 200
    plain = await make_token(client, admin)
    assert "admin" in str(assert_problem(await client.get(ADMIN_CHALLENGES, headers=plain), 403)["detail"])
    # An admin-scoped token of an account that is no admin's any more opens nothing.
    admin.user.is_admin = False
    await session.commit()
    assert_problem(await client.get(ADMIN_CHALLENGES, headers=curator), 403)


async def test_no_token_grants_more_than_its_maker_has(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    refused = await client.post(TOKENS, json={"name": "x", "scopes": ["admin"]}, headers=alice.headers)
    assert "admin account" in str(assert_problem(refused, 403)["detail"])
    plain = await make_token(client, admin)
    escalated = await client.post(TOKENS, json={"name": "x", "scopes": ["read", "admin"]}, headers=plain)
    assert_problem(escalated, 403)
    narrower = await client.post(TOKENS, json={"name": "x", "scopes": ["read"]}, headers=plain)
    assert narrower.status_code == 201
    listed = await client.get(TOKENS, headers=admin.headers)
    assert sorted(t["scopes"] for t in listed.json()["items"]) == [["read"], ["read", "write"]]


@pytest.mark.parametrize("scopes", [[], ["read", "read"], ["delete"], "read", ["read", "write", "admin", "read"]])
async def test_bad_scopes_are_422(client: httpx.AsyncClient, alice: Account, scopes: object) -> None:
    assert_problem(await client.post(TOKENS, json={"name": "x", "scopes": scopes}, headers=alice.headers), 422)
    assert (await client.get(TOKENS, headers=alice.headers)).json()["items"] == []


async def test_tokens_made_before_scopes_existed_read_and_write(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    token = security.new_api_token()
    # As the row was before the migration: no scopes given, the server default fills them in.
    await session.execute(
        text(
            "INSERT INTO api_tokens (id, user_id, name, digest, prefix, created_at) "
            "VALUES (:id, :user_id, 'old script', :digest, :prefix, :created_at)"
        ).bindparams(
            bindparam("id", uuid.uuid4(), type_=Uuid()),
            bindparam("user_id", alice.user.id, type_=Uuid()),
            bindparam("created_at", datetime.now(UTC), type_=UTCDateTime()),
        ),
        {"digest": security.api_token_digest(token), "prefix": token[:8]},
    )
    await session.commit()
    old = {"Authorization": f"Bearer {token}"}
    assert (await client.patch(ME, json={"display_name": "Al"}, headers=old)).status_code == 200
    assert (await client.get(TOKENS, headers=alice.headers)).json()["items"][0]["scopes"] == ["read", "write"]


async def test_access_tokens_issued_before_scopes_keep_what_they_could_do(
    client: httpx.AsyncClient, admin: Account, settings: Settings
) -> None:
    now = datetime.now(UTC)
    claims = {"sub": str(admin.user.id), "iat": now, "exp": now + timedelta(minutes=5), "typ": "access"}
    unscoped = {"Authorization": f"Bearer {jwt.encode(claims, settings.signing_key, algorithm='HS256')}"}
    assert (await client.patch(ME, json={"display_name": "Ad"}, headers=unscoped)).status_code == 200
    assert (await client.get(ADMIN_CHALLENGES, headers=unscoped)).status_code == 200


async def test_a_sign_in_carries_every_scope_of_the_account(
    client: httpx.AsyncClient, alice: Account, admin: Account, settings: Settings
) -> None:
    for email, expected in (
        ("alice@example.com", {"read", "write"}),
        ("admin@example.com", {"read", "write", "admin"}),
    ):
        signed_in = await client.post(
            "/api/v1/auth/token", data={"username": email, "password": "correct horse battery"}
        )
        claims = security.decode_access_token(signed_in.json()["access_token"], settings)
        assert claims is not None
        assert claims.scopes == expected, email


def test_the_scopes_are_one_component_in_the_openapi_document(settings: Settings) -> None:
    document = create_app(settings).openapi()
    schemas = document["components"]["schemas"]
    assert schemas["TokenScope"]["enum"] == ["read", "write", "admin"]
    reference = {"$ref": "#/components/schemas/TokenScope"}
    assert schemas["ApiTokenCreate"]["properties"]["scopes"]["items"] == reference
    assert schemas["ApiTokenPublic"]["properties"]["scopes"]["items"] == reference
    assert schemas["ApiTokenCreate"]["properties"]["scopes"]["uniqueItems"] is True
