"""Scan jobs are durable: a job stored before a restart, or left running by a replica that died
(its lease ran out), is finished by the next replica that starts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from asgi_lifespan import LifespanManager

from pipelines.catalog_sources import Catalog
from serve_app.api.factory import create_app
from serve_app.api.state import AppState
from serve_app.db.tables import Scan, utcnow
from tests.api.test_scans import _photo
from tests.conftest import Backend
from tests.factories import ApiUser


async def test_unfinished_scans_resume_when_a_replica_starts(
    client: httpx.AsyncClient, alice: ApiUser, backend: Backend, catalogs: list[Catalog], app_state: AppState
) -> None:
    uploaded = await client.post(
        "/api/v1/images",
        files={"file": ("one.jpg", _photo(catalogs, ["sv2-12"], seed=3), "image/jpeg")},
        headers=alice.headers,
    )
    key = uploaded.json()["key"]
    queued = Scan(user_id=uuid.UUID(alice.id), image_key=key)  # stored, never handed to a worker
    orphan = Scan(  # a replica took it and died: its lease has run out
        user_id=uuid.UUID(alice.id), image_key=key, status="running", attempts=1, lease_until=utcnow() - timedelta(1)
    )
    live = Scan(  # another replica is working on it right now: leave it alone
        user_id=uuid.UUID(alice.id),
        image_key=key,
        status="running",
        attempts=1,
        lease_until=utcnow() + timedelta(hours=1),
    )
    async with app_state.sessions() as session:
        session.add_all([queued, orphan, live])
        await session.commit()
    ids = {s.id for s in (queued, orphan, live)}
    restarted = create_app(backend.settings)  # a fresh replica: its sweep runs at start
    async with LifespanManager(restarted) as manager:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver")
        statuses: dict[uuid.UUID, dict] = {}
        for _ in range(1200):
            for scan_id in ids:
                statuses[scan_id] = (await http.get(f"/api/v1/scans/{scan_id}", headers=alice.headers)).json()
            if all(statuses[i]["status"] == "done" for i in (queued.id, orphan.id)):
                break
            await asyncio.sleep(0.1)
        await http.aclose()
    assert statuses[queued.id]["status"] == "done" and statuses[queued.id]["attempts"] == 1
    assert statuses[orphan.id]["status"] == "done" and statuses[orphan.id]["attempts"] == 2
    assert len(statuses[queued.id]["cards"]) >= 1
    assert statuses[live.id]["status"] == "running" and statuses[live.id]["attempts"] == 1
