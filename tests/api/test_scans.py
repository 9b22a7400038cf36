"""Scans through the API: photo in, identified and graded cards out, into the inventory.

The models are the shipped ones (``models/``) running in process; the photos are composed from
held-out-style surfaces with cards of the test catalog's sets, so every answer can be checked.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from pipelines.catalog_sources import Catalog
from pipelines.render.backgrounds import HELD_OUT_STYLES
from pipelines.render.card_face import face_spec
from pipelines.render.scenes import compose
from serve_app.api.state import AppState
from tests.api.test_images import _png_bomb
from tests.factories import ApiUser

CARDS = ["sv2-12", "base1-4", "sv4-5"]


def _photo(catalogs: list[Catalog], card_ids: list[str], seed: int, layout: str = "table") -> bytes:
    specs = []
    for catalog in catalogs:
        sets = {s.id: s for s in catalog.sets}
        specs += [face_spec(c, sets[c.set_id], c.printings[0]) for c in catalog.cards if c.id in card_ids]
    scene = compose(specs, np.random.default_rng(seed), layout=layout, styles=HELD_OUT_STYLES, negatives=0)
    buffer = io.BytesIO()
    scene.image.convert("RGB").save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def _wait(client: httpx.AsyncClient, user: ApiUser, scan_id: str, patience_s: float = 120) -> dict:
    for _ in range(int(patience_s / 0.1)):
        body = (await client.get(f"/api/v1/scans/{scan_id}", headers=user.headers)).json()
        if body["status"] in ("done", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"scan {scan_id} did not finish")


@pytest.mark.timeout(300)
async def test_scan_identifies_grades_and_accepts(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, catalogs: list[Catalog]
) -> None:
    photo = _photo(catalogs, CARDS, seed=5, layout="binder")
    created = await client.post(
        "/api/v1/scans", files={"file": ("table.jpg", photo, "image/jpeg")}, headers=alice.headers
    )
    assert created.status_code == 202, created.text
    scan_id = created.json()["id"]
    assert created.headers["location"] == f"/api/v1/scans/{scan_id}"
    body = await _wait(client, alice, scan_id)
    assert body["status"] == "done", body["error"]
    cards = body["cards"]
    assert len(cards) == 3
    found = {c["candidates"][0]["card_id"] for c in cards if c["candidates"]}
    assert len(found & set(CARDS)) >= 2, [(c["candidates"][:1], c["ocr"]) for c in cards]
    for card in cards:
        assert len(card["corners"]) == 4 and len(card["box"]) == 4
        assert card["tier"] in ("GOOD", "FAIR", "POOR")
        grade = card["grade"]
        assert 1 <= grade["overall"] <= 10 and grade["condition"] in ("NM", "LP", "MP", "HP", "DMG")
        assert {"centering", "corners", "edges", "surface"} <= set(grade)
        crop = await client.get(_path(card["crop_url"]))
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(crop.content)) as image:
            assert image.size == (315, 440)
    overlay = await client.get(_path(body["overlay_url"]))
    assert overlay.status_code == 200 and overlay.content[:2] == b"\xff\xd8"
    # the photo's thumbnails, left out of the upload's path, were made by the scan job
    image = (await client.get(f"/api/v1/images/{body['image_key']}", headers=alice.headers)).json()
    assert sorted(map(int, image["thumbnails"])) == [128, 256, 512]
    for size, url in image["thumbnails"].items():
        thumb = await client.get(_path(url))
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp", size
        with Image.open(io.BytesIO(thumb.content)) as small:
            assert max(small.size) == int(size)
    timings = body["timings_ms"]
    assert timings["total"] > 0 and "detect" in timings
    # the job's own phases around the pipeline: the call's round trip holds the pipeline's total
    assert {"job_claim", "job_fetch", "job_scan_call", "job_store"} <= set(timings)
    assert timings["job_scan_call"] >= timings["total"] - 0.1

    # someone else's scan does not exist for them
    assert (await client.get(f"/api/v1/scans/{scan_id}", headers=bob.headers)).status_code == 404
    assert (await client.post(f"/api/v1/scans/{scan_id}/accept", headers=bob.headers)).status_code == 404

    # accept: the first card corrected by hand, the second skipped, the rest as identified
    fix = next(c for c in catalogs[0].cards if c.id == "base1-4").printings[0].id
    accepted = await client.post(
        f"/api/v1/scans/{scan_id}/accept",
        json={
            "cards": [{"index": 0, "printing_id": fix, "condition": "LP"}, {"index": 1, "skip": True}],
            "include_poor": True,
        },
        headers=alice.headers,
    )
    assert accepted.status_code == 201, accepted.text
    result = accepted.json()
    assert 1 in result["skipped"]
    items = result["items"]
    assert items[0]["printing_id"] == fix and items[0]["condition"] == "LP"
    assert all(item["source_image_key"] == body["image_key"] for item in items)
    again = await client.post(f"/api/v1/scans/{scan_id}/accept", headers=alice.headers)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    bad_index = await client.post(
        "/api/v1/scans", files={"file": ("t.jpg", photo, "image/jpeg")}, headers=alice.headers
    )
    second = await _wait(client, alice, bad_index.json()["id"])
    wrong = await client.post(
        f"/api/v1/scans/{second['id']}/accept", json={"cards": [{"index": 40}]}, headers=alice.headers
    )
    assert wrong.status_code == 422


async def test_bad_photos_get_clear_errors_and_an_empty_photo_no_cards(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    def post(data: bytes, name: str = "x.jpg", kind: str = "image/jpeg") -> object:
        return client.post("/api/v1/scans", files={"file": (name, data, kind)}, headers=alice.headers)

    not_image = await post(b"%PDF-1.7 this is not a photo", "doc.pdf", "application/pdf")
    assert not_image.status_code == 422 and not_image.headers["content-type"].startswith("application/problem+json")
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 30, 30)).save(buffer, "JPEG")
    truncated = await post(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert truncated.status_code == 422
    bomb = await post(_png_bomb(), "bomb.png", "image/png")
    assert bomb.status_code == 413
    neither = await client.post("/api/v1/scans", headers=alice.headers)
    assert neither.status_code == 400
    missing = await client.post("/api/v1/scans", data={"image_key": uuid.uuid4().hex}, headers=alice.headers)
    assert missing.status_code == 404
    # a photo of a plain surface: the scan succeeds and finds nothing
    rng = np.random.default_rng(0)
    noise = (rng.normal(120, 25, (960, 1280, 3))).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG")
    empty = await post(buffer.getvalue())
    assert empty.status_code == 202
    body = await _wait(client, alice, empty.json()["id"])
    assert body["status"] == "done" and body["cards"] == []
    # a Flesh and Blood card lying face down (and a coin): no card, one face down
    buffer = io.BytesIO()
    compose([], np.random.default_rng(46), styles=HELD_OUT_STYLES, negatives=2).image.convert("RGB").save(
        buffer, "JPEG", quality=90
    )
    back = await _wait(client, alice, (await post(buffer.getvalue())).json()["id"])
    assert back["cards"] == [] and [f["game"] for f in back["face_down"]] == ["fab"], back
    assert (await client.get("/readyz")).status_code == 200  # the server stayed up


async def test_scan_of_an_uploaded_image_key_and_live_events(
    client: httpx.AsyncClient, alice: ApiUser, catalogs: list[Catalog], app_state: AppState
) -> None:
    uploaded = await client.post(
        "/api/v1/images",
        files={"file": ("one.jpg", _photo(catalogs, ["sv3pt5-25"], seed=9), "image/jpeg")},
        headers=alice.headers,
    )
    events = []

    async def listen() -> None:
        async for event in app_state.events.subscribe(f"user:{alice.id}"):
            events.append(event)
            if event["type"] == "scan.completed":
                return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.05)
    created = await client.post("/api/v1/scans", data={"image_key": uploaded.json()["key"]}, headers=alice.headers)
    assert created.status_code == 202, created.text
    await asyncio.wait_for(listener, 120)
    body = await _wait(client, alice, created.json()["id"])
    assert [e["type"] for e in events][:1] == ["scan.progress"] and events[-1]["cards"] == len(body["cards"])
    assert events[-1]["face_down"] == len(body["face_down"]) == 0
    assert "sv3pt5-25" in [c["candidates"][0]["card_id"] for c in body["cards"] if c["candidates"]]
    # a client that prefers to wait gets the finished scan in the answer (RFC 7240 Prefer: wait)
    waited = await client.post(
        "/api/v1/scans",
        data={"image_key": uploaded.json()["key"]},
        headers=alice.headers | {"Prefer": "respond-async, wait=60"},
    )
    assert waited.status_code == 200, waited.text
    assert waited.headers["Preference-Applied"] == "wait=30"  # capped
    assert waited.json()["status"] == "done"
    assert [c["corners"] for c in waited.json()["cards"]] == [c["corners"] for c in body["cards"]]
    assert waited.headers["Location"] == f"/api/v1/scans/{waited.json()['id']}"


async def test_a_heic_photo_straight_from_a_phone_is_scanned(
    client: httpx.AsyncClient, alice: ApiUser, catalogs: list[Catalog], app_state: AppState
) -> None:
    """iPhones save HEIC: the scan reads it as it reads the same photo as JPEG, from the JPEG copy the
    upload made of it (decoding a 12 MP HEIC twice took ~0.5 s); a HEIC stored without one (before
    copies were made) is read itself."""
    from pillow_heif import from_pillow

    from serve_app.core.storage import ObjectMissing
    from serve_app.services.images import original_key, scan_copy_key

    jpeg = _photo(catalogs, ["sv3pt5-25"], seed=9)
    buffer = io.BytesIO()
    from_pillow(Image.open(io.BytesIO(jpeg)).convert("RGB")).save(buffer, quality=90)
    bodies = []
    for name, data, kind in (("one.jpg", jpeg, "image/jpeg"), ("IMG_0002.HEIC", buffer.getvalue(), "image/heic")):
        created = await client.post(
            "/api/v1/scans",
            files={"file": (name, data, kind)},
            headers=alice.headers | {"Prefer": "wait=30"},
        )
        assert created.status_code == 200, created.text
        laps = [lap.split(";")[0] for lap in created.headers["Server-Timing"].split(", ")]
        assert laps == ["read", "upload", "queue", "wait"]  # where the request's time went
        bodies.append(created.json())
    jpeg_body, heic_body = bodies
    assert heic_body["hidden"] == [] and heic_body["unread"] == []  # one card in full view
    assert heic_body["status"] == "done" and (heic_body["width"], heic_body["height"]) == (
        jpeg_body["width"],
        jpeg_body["height"],
    )
    named = [[c["candidates"][0]["card_id"] for c in b["cards"] if c["candidates"]] for b in bodies]
    assert "sv3pt5-25" in named[1] and named[0] == named[1]
    for heic_card, jpeg_card in zip(heic_body["cards"], jpeg_body["cards"], strict=True):
        assert np.allclose(heic_card["corners"], jpeg_card["corners"], atol=6.0)  # two lossy codecs, one photo
    storage = app_state.storage
    heic_key, jpeg_key = heic_body["image_key"], jpeg_body["image_key"]
    with Image.open(io.BytesIO(await storage.get(scan_copy_key(heic_key)))) as copy:
        assert copy.format == "JPEG" and copy.size == (heic_body["width"], heic_body["height"])
    assert (await storage.get(original_key(heic_key)))[4:12] == b"ftypheic"  # the original kept as sent
    with pytest.raises(ObjectMissing):
        await storage.get(scan_copy_key(jpeg_key))  # a JPEG is read itself

    async def scanned(key: str) -> list[str]:
        again = await client.post(
            "/api/v1/scans", data={"image_key": key}, headers=alice.headers | {"Prefer": "wait=30"}
        )
        assert again.status_code == 200, again.text
        return [c["candidates"][0]["card_id"] for c in again.json()["cards"] if c["candidates"]]

    # the scan reads the copy: made another photo, it names that photo's card
    await storage.put(scan_copy_key(heic_key), _photo(catalogs, ["sv2-12"], seed=3), "image/jpeg")
    assert "sv2-12" in await scanned(heic_key)
    # a HEIC without its copy: the scan reads the original
    await storage.delete(scan_copy_key(heic_key))
    assert await scanned(heic_key) == named[1]
    # deleting the image deletes its copy
    await storage.put(scan_copy_key(heic_key), b"copy", "image/jpeg")
    assert (await client.delete(f"/api/v1/images/{heic_key}", headers=alice.headers)).status_code == 204
    with pytest.raises(ObjectMissing):
        await storage.get(scan_copy_key(heic_key))
