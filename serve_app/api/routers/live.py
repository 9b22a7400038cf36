"""WebSocket ``/api/v1/ws``: live updates for the signed-in user (inventory, valuations; scans next).

Browsers cannot set headers on a WebSocket, so the access token comes as the ``token`` query
parameter or as the subprotocol pair ``bearer, <token>``. Clients may send ``{"type": "ping"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from serve_app.api.paths import API_PREFIX
from serve_app.api.state import AppState
from serve_app.core.errors import CardVaultError
from serve_app.services import auth as auth_service

router = APIRouter(prefix=API_PREFIX, tags=["live"])


def _token(websocket: WebSocket) -> tuple[str | None, str | None]:
    if token := websocket.query_params.get("token"):
        return token, None
    protocols = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if len(protocols) == 2 and protocols[0].lower() == "bearer":
        return protocols[1], "bearer"
    return None, None


@router.websocket("/ws")
async def live_updates(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.cardvault
    token, subprotocol = _token(websocket)
    try:
        if not token:
            raise CardVaultError("missing token")
        async with state.sessions() as session:
            user, _ = await auth_service.authenticate_access(session, keys=state.keys, token=token)
    except CardVaultError:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="authentication failed")
        return
    await websocket.accept(subprotocol=subprotocol)
    await websocket.send_json({"type": "hello", "user_id": str(user.id)})

    async def forward() -> None:
        async for event in state.events.subscribe(f"user:{user.id}", "global"):
            await websocket.send_json(event)

    forwarder = asyncio.create_task(forward())
    try:
        while True:
            message: Any = await websocket.receive_json()
            if isinstance(message, dict) and message.get("type") == "ping":
                await websocket.send_json({"type": "pong"})
    except (WebSocketDisconnect, ValueError):
        pass
    finally:
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await forwarder
