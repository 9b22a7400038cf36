"""Images on S3-compatible storage: a local S3 server (moto's HTTP server) started by the test."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from moto.server import ThreadedMotoServer
from PIL import Image
from pydantic import SecretStr

from serve_app.api.factory import create_app
from tests.factories import register


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
async def s3_client(backend, s3_endpoint: str) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    settings = backend.settings.model_copy(
        update={
            "s3_bucket": f"cardvault-{backend.name}",
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": "test",
            "s3_secret_access_key": SecretStr("test"),
        }
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 880), (250, 200, 0)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def test_direct_and_presigned_uploads_on_s3(s3_client: httpx.AsyncClient) -> None:
    user = await register(s3_client)
    direct = await s3_client.post(
        "/api/v1/images", files={"file": ("card.jpg", _jpeg(), "image/jpeg")}, headers=user.headers
    )
    assert direct.status_code == 201, direct.text
    image = direct.json()
    async with httpx.AsyncClient() as outside:
        thumb = await outside.get(image["thumbnails"]["256"])
        assert thumb.status_code == 200
        with Image.open(io.BytesIO(thumb.content)) as picture:
            assert max(picture.size) == 256
        original = await outside.get(image["url"])
        assert original.content == _jpeg()
        unsigned = await outside.get(image["url"].split("?")[0])
        assert unsigned.status_code == 403
        data = _jpeg()
        ticket = (
            await s3_client.post(
                "/api/v1/images/uploads",
                json={"content_type": "image/jpeg", "byte_size": len(data)},
                headers=user.headers,
            )
        ).json()
        put = await outside.put(ticket["upload_url"], content=data, headers=ticket["headers"])
        assert put.status_code == 200
    done = await s3_client.post(f"/api/v1/images/{ticket['key']}/complete", headers=user.headers)
    assert done.status_code == 200 and done.json()["width"] == 640


async def test_rejected_presigned_upload_is_removed(s3_client: httpx.AsyncClient) -> None:
    user = await register(s3_client)
    ticket = (
        await s3_client.post(
            "/api/v1/images/uploads", json={"content_type": "image/png", "byte_size": 100}, headers=user.headers
        )
    ).json()
    async with httpx.AsyncClient() as outside:
        await outside.put(ticket["upload_url"], content=b"not a png at all", headers=ticket["headers"])
    done = await s3_client.post(f"/api/v1/images/{ticket['key']}/complete", headers=user.headers)
    assert done.status_code == 422
    again = await s3_client.post(f"/api/v1/images/{ticket['key']}/complete", headers=user.headers)
    assert again.status_code == 404  # the bad object was deleted
