"""Image upload, validation (type, bytes, pixels, bombs, truncation), thumbnails, signed URLs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from serve_app.core.storage import LocalStorage, ObjectMissing, URLSigner
from serve_app.services.images import ensure_thumbnails, thumbnail_key
from tests.factories import ApiUser


def _jpeg(size: tuple[int, int] = (1200, 1600)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _noisy_jpeg(size: tuple[int, int] = (2400, 1800)) -> bytes:
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _png_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A valid PNG header claiming 100 megapixels, with a tiny compressed body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = zlib.compress(b"\x00" * (width // 8 + 1) * 64, 9)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_upload_makes_thumbnails_behind_signed_urls(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.post(
        "/api/v1/images", files={"file": ("binder.jpg", _jpeg(), "image/jpeg")}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    image = response.json()
    assert (image["width"], image["height"], image["content_type"]) == (1200, 1600, "image/jpeg")
    for size, url in image["thumbnails"].items():
        blob = await client.get(_path(url))
        assert blob.status_code == 200 and blob.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(blob.content)) as thumb:
            assert max(thumb.size) == int(size)
            assert thumb.getpixel((thumb.width // 2, thumb.height // 2))[2] > 150  # still blue
    original = await client.get(_path(image["url"]))
    assert original.status_code == 200 and original.content[:2] == b"\xff\xd8"
    tampered = _path(image["url"]).replace("signature=", "signature=0")
    assert (await client.get(tampered)).status_code == 403


def _heic(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A photo as an iPhone saves it: HEIC (HEVC in HEIF), encoded by libheif through pillow-heif."""
    from pillow_heif import from_pillow

    buffer = io.BytesIO()
    from_pillow(Image.new("RGB", size, (10, 120, 200))).save(buffer, quality=80)
    return buffer.getvalue()


async def test_a_phones_heic_photo_is_taken_and_thumbnailed(client: httpx.AsyncClient, alice: ApiUser) -> None:
    data = _heic()
    assert data[4:12] == b"ftypheic"
    response = await client.post(
        "/api/v1/images", files={"file": ("IMG_0001.HEIC", data, "image/heic")}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    image = response.json()
    assert (image["width"], image["height"], image["content_type"]) == (1600, 1200, "image/heic")
    for size, url in image["thumbnails"].items():
        blob = await client.get(_path(url))
        with Image.open(io.BytesIO(blob.content)) as thumb:
            assert thumb.format == "WEBP" and max(thumb.size) == int(size)
            assert thumb.getpixel((thumb.width // 2, thumb.height // 2))[2] > 150  # still blue
    original = await client.get(_path(image["url"]))
    assert original.content == data and original.headers["content-type"] == "image/heic"
    truncated = await client.post(
        "/api/v1/images", files={"file": ("cut.heic", data[: len(data) // 2], "image/heic")}, headers=alice.headers
    )
    assert truncated.status_code == 422 and truncated.headers["content-type"].startswith("application/problem+json")


async def test_signed_upload_url_flow(client: httpx.AsyncClient, alice: ApiUser) -> None:
    data = _jpeg((800, 600))
    ticket = await client.post(
        "/api/v1/images/uploads", json={"content_type": "image/jpeg", "byte_size": len(data)}, headers=alice.headers
    )
    assert ticket.status_code == 201
    body = ticket.json()
    pending = await client.get(f"/api/v1/images/{body['key']}", headers=alice.headers)
    assert pending.json()["status"] == "pending" and pending.json()["url"] is None
    put = await client.put(_path(body["upload_url"]), content=data, headers=body["headers"])
    assert put.status_code == 204
    done = await client.post(f"/api/v1/images/{body['key']}/complete", headers=alice.headers)
    assert done.status_code == 200 and done.json()["status"] == "ready" and done.json()["width"] == 800


async def test_bad_images_are_rejected_clearly(client: httpx.AsyncClient, alice: ApiUser) -> None:
    cases = {
        "not an image": (b"%PDF-1.7 hello", 422),
        "truncated jpeg": (_jpeg()[:2000], 422),
        # a photo's last rows missing: checked by the thumbnails' reduced decode, which reads all the data
        "jpeg cut near its end": (_noisy_jpeg()[:-3000], 422),
        "decompression bomb": (_png_bomb(), 413),
        "empty": (b"", 422),
        "gif": (b"GIF89a" + b"\x10\x00\x10\x00" + b"\x00" * 20, 422),
    }
    for name, (data, status) in cases.items():
        response = await client.post(
            "/api/v1/images", files={"file": ("x", data, "application/octet-stream")}, headers=alice.headers
        )
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
    assert (await client.get("/healthz")).status_code == 200


async def test_upload_too_many_bytes(backend, client: httpx.AsyncClient, alice: ApiUser) -> None:  # type: ignore[no-untyped-def]
    limit = backend.settings.max_upload_bytes
    response = await client.post(
        "/api/v1/images", files={"file": ("big.jpg", b"\xff" * (limit + 10), "image/jpeg")}, headers=alice.headers
    )
    assert response.status_code == 413
    ticket = await client.post(
        "/api/v1/images/uploads", json={"content_type": "image/jpeg", "byte_size": limit + 1}, headers=alice.headers
    )
    assert ticket.status_code == 413


async def test_delete_image_removes_objects(client: httpx.AsyncClient, alice: ApiUser) -> None:
    image = (
        await client.post(
            "/api/v1/images", files={"file": ("a.jpg", _jpeg((300, 300)), "image/jpeg")}, headers=alice.headers
        )
    ).json()
    assert (await client.delete(f"/api/v1/images/{image['key']}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"/api/v1/images/{image['key']}", headers=alice.headers)).status_code == 404
    assert (await client.get(_path(image["thumbnails"]["128"]))).status_code == 404


async def test_thumbnails_left_to_later_are_made_once_where_missing(tmp_path: Path) -> None:
    """A photo posted to be scanned is stored without thumbnails; the scan job makes them, and a job
    run again (resumed after a restart) finds them there and makes none."""
    storage = LocalStorage(tmp_path, base_url="http://test", signer=URLSigner(b"k" * 32))
    data = _jpeg()
    with pytest.raises(ObjectMissing):
        await storage.get(thumbnail_key("a" * 32, 128))
    assert await ensure_thumbnails(storage, "a" * 32, data)
    for size in (128, 256, 512):
        with Image.open(io.BytesIO(await storage.get(thumbnail_key("a" * 32, size)))) as thumb:
            assert thumb.format == "WEBP" and max(thumb.size) == size
    assert not await ensure_thumbnails(storage, "a" * 32, data)
