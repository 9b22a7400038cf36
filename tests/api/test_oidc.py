"""Login with an external OIDC provider (authorization code + PKCE) against a local provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager

from serve_app.api.factory import create_app
from serve_app.settings import OIDCProvider
from tests.oidc_provider import OIDCProviderServer


@pytest.fixture(scope="module")
def idp() -> Iterator[OIDCProviderServer]:
    server = OIDCProviderServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def oidc_client(backend, idp: OIDCProviderServer) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    provider = OIDCProvider(name="lab", issuer=idp.issuer, client_id=idp.client_id, client_secret=idp.client_secret)
    app = create_app(backend.settings.model_copy(update={"oidc_providers": [provider]}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _login(client: httpx.AsyncClient) -> httpx.Response:
    start = await client.get("/api/v1/auth/oidc/lab/login")
    assert start.status_code == 302
    authorize_url = start.headers["location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert "code_verifier" not in query  # the verifier never leaves the server
    async with httpx.AsyncClient() as browser:
        at_idp = await browser.get(authorize_url)
    assert at_idp.status_code == 302, at_idp.text
    callback = urlsplit(at_idp.headers["location"])
    assert callback.path == "/api/v1/auth/oidc/lab/callback"
    return await client.get(f"{callback.path}?{callback.query}")


async def test_oidc_login_creates_then_reuses_account(oidc_client: httpx.AsyncClient, idp: OIDCProviderServer) -> None:
    idp.identity = {"sub": "oak-1", "email": "oak@lab.example", "email_verified": True, "name": "Prof. Oak"}
    first = await _login(oidc_client)
    assert first.status_code == 200, first.text
    tokens = first.json()
    me = (await oidc_client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})).json()
    assert me["email"] == "oak@lab.example" and me["display_name"] == "Prof. Oak"
    second = await _login(oidc_client)
    me_again = (
        await oidc_client.get("/api/v1/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"})
    ).json()
    assert me_again["id"] == me["id"]
    sessions = (
        await oidc_client.get("/api/v1/me/sessions", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    ).json()
    assert {s["auth_method"] for s in sessions} == {"oidc:lab"}


async def test_state_is_single_use_and_checked(oidc_client: httpx.AsyncClient, idp: OIDCProviderServer) -> None:
    idp.identity = {"sub": "misty-1", "email": "misty@lab.example", "email_verified": True, "name": "Misty"}
    start = await oidc_client.get("/api/v1/auth/oidc/lab/login")
    async with httpx.AsyncClient() as browser:
        at_idp = await browser.get(start.headers["location"])
    callback = urlsplit(at_idp.headers["location"])
    ok = await oidc_client.get(f"{callback.path}?{callback.query}")
    assert ok.status_code == 200
    replay = await oidc_client.get(f"{callback.path}?{callback.query}")
    assert replay.status_code == 400 and "state" in replay.json()["detail"]
    forged = await oidc_client.get("/api/v1/auth/oidc/lab/callback", params={"code": "x", "state": "made-up"})
    assert forged.status_code == 400


async def test_bad_code_and_unknown_provider(oidc_client: httpx.AsyncClient) -> None:
    start = await oidc_client.get("/api/v1/auth/oidc/lab/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    refused = await oidc_client.get("/api/v1/auth/oidc/lab/callback", params={"code": "stolen", "state": state})
    assert refused.status_code == 401
    unknown = await oidc_client.get("/api/v1/auth/oidc/nope/login")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


async def test_unverified_email_does_not_take_over_account(
    oidc_client: httpx.AsyncClient, idp: OIDCProviderServer
) -> None:
    registered = await oidc_client.post(
        "/api/v1/auth/register",
        json={"email": "gary@lab.example", "password": "smell ya later!!", "display_name": "Gary"},
    )
    assert registered.status_code == 201
    idp.identity = {"sub": "impostor-1", "email": "gary@lab.example", "email_verified": False, "name": "Gary?"}
    response = await _login(oidc_client)
    assert response.status_code == 409
