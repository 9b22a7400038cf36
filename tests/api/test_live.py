"""WebSocket live updates: authenticated, per user, fed by inventory changes and revaluations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from serve_app.api.factory import create_app
from serve_app.services.valuation import revalue
from tests.conftest import Backend


@pytest.fixture
def sync_client(backend: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(backend.settings)) as client:
        yield client


def _login(client: TestClient, email: str) -> str:
    client.post("/api/v1/auth/register", json={"email": email, "password": "live updates 123", "display_name": "Live"})
    token = client.post("/api/v1/auth/token", data={"username": email, "password": "live updates 123"})
    return str(token.json()["access_token"])


def test_inventory_events_reach_only_their_owner(sync_client: TestClient, backend: Backend) -> None:
    import uuid

    alice = _login(sync_client, f"ws-{uuid.uuid4().hex[:8]}@example.com")
    bob = _login(sync_client, f"ws-{uuid.uuid4().hex[:8]}@example.com")
    with (
        sync_client.websocket_connect(f"/api/v1/ws?token={alice}") as alice_ws,
        sync_client.websocket_connect("/api/v1/ws", subprotocols=["bearer", bob]) as bob_ws,
    ):
        assert alice_ws.receive_json()["type"] == "hello" and bob_ws.receive_json()["type"] == "hello"
        created = sync_client.post(
            "/api/v1/inventory", json={"printing_id": "MST131:normal:en"}, headers={"Authorization": f"Bearer {alice}"}
        )
        assert created.status_code == 201
        event = alice_ws.receive_json()
        assert event == {"type": "inventory.created", "id": created.json()["id"]}
        bob_ws.send_json({"type": "ping"})
        assert bob_ws.receive_json() == {"type": "pong"}  # Bob saw nothing of Alice's before his pong


def test_revaluation_is_broadcast(sync_client: TestClient, backend: Backend, tmp_path: Path) -> None:
    import uuid

    token = _login(sync_client, f"ws-{uuid.uuid4().hex[:8]}@example.com")
    state = sync_client.app.state.cardvault  # type: ignore[attr-defined]
    with sync_client.websocket_connect(f"/api/v1/ws?token={token}") as ws:
        assert ws.receive_json()["type"] == "hello"
        summary = sync_client.portal.call(  # type: ignore[union-attr]
            lambda: revalue(state.engine, work_dir=tmp_path, use="polars", events=state.events)
        )
        event = ws.receive_json()
        assert event["type"] == "valuation.completed" and event["run_id"] == summary.run_id


def test_bad_token_is_refused(sync_client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, sync_client.websocket_connect("/api/v1/ws?token=nope"):
        pass
    assert refused.value.code == 1008
